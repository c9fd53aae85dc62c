from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import TwilioCredentials


class TwilioCredentialsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID) -> TwilioCredentials | None:
        stmt = select(TwilioCredentials).where(TwilioCredentials.business_id == business_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_account(self, account_sid: str) -> Sequence[TwilioCredentials]:
        """Every business that uses this Twilio account (for checking its webhooks). Not
        capped: a cap would let whoever saves the SID under enough businesses push the
        real owner out; saving needs the account's own token, so the list stays short."""
        stmt = select(TwilioCredentials).where(TwilioCredentials.account_sid == account_sid)
        return (await self.session.scalars(stmt.order_by(TwilioCredentials.id))).all()

    async def add(self, credentials: TwilioCredentials) -> TwilioCredentials:
        self.session.add(credentials)
        await self.session.flush()
        return credentials

    async def delete(self, credentials: TwilioCredentials) -> None:
        await self.session.delete(credentials)
        await self.session.flush()
