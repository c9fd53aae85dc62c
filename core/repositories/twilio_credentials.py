from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import TwilioCredentials

# An unauthenticated webhook names an AccountSid; at most this many businesses' tokens are
# tried for it (several may share one Twilio account).
MAX_SHARED_ACCOUNT = 20


class TwilioCredentialsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID) -> TwilioCredentials | None:
        stmt = select(TwilioCredentials).where(TwilioCredentials.business_id == business_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_account(self, account_sid: str) -> Sequence[TwilioCredentials]:
        """The businesses that use this Twilio account (for checking its webhooks)."""
        stmt = (
            select(TwilioCredentials)
            .where(TwilioCredentials.account_sid == account_sid)
            .order_by(TwilioCredentials.id)
            .limit(MAX_SHARED_ACCOUNT)
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, credentials: TwilioCredentials) -> TwilioCredentials:
        self.session.add(credentials)
        await self.session.flush()
        return credentials

    async def delete(self, credentials: TwilioCredentials) -> None:
        await self.session.delete(credentials)
        await self.session.flush()
