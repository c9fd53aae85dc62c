from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Reminder, SenderIdentity, VerificationSend
from core.repositories.base import paginate


class SenderIdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID, identity_id: uuid.UUID) -> SenderIdentity | None:
        stmt = select(SenderIdentity).where(
            SenderIdentity.business_id == business_id, SenderIdentity.id == identity_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list(
        self, business_id: uuid.UUID, channel: str | None, limit: int, offset: int
    ) -> tuple[list[SenderIdentity], int]:
        stmt: Any = select(SenderIdentity).where(SenderIdentity.business_id == business_id)
        if channel is not None:
            stmt = stmt.where(SenderIdentity.channel == channel)
        stmt = stmt.order_by(SenderIdentity.channel, SenderIdentity.created_at, SenderIdentity.id)
        return await paginate(self.session, stmt, limit, offset)

    async def get_default(self, business_id: uuid.UUID, channel: str) -> SenderIdentity | None:
        stmt = select(SenderIdentity).where(
            SenderIdentity.business_id == business_id,
            SenderIdentity.channel == channel,
            SenderIdentity.is_default.is_(True),
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def oldest(self, business_id: uuid.UUID, channel: str) -> SenderIdentity | None:
        stmt = (
            select(SenderIdentity)
            .where(SenderIdentity.business_id == business_id, SenderIdentity.channel == channel)
            .order_by(SenderIdentity.created_at, SenderIdentity.id)
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    async def add(self, identity: SenderIdentity) -> SenderIdentity:
        self.session.add(identity)
        await self.session.flush()
        return identity

    async def make_default(self, identity: SenderIdentity) -> None:
        """Move the channel's default to `identity`.

        The old default is cleared and flushed first: the partial unique index allows one
        default per (business, channel) at every moment, not only at commit.
        """
        current = await self.get_default(identity.business_id, identity.channel)
        if current is not None and current.id != identity.id:
            current.is_default = False
            await self.session.flush()
        identity.is_default = True
        await self.session.flush()

    async def delete(self, identity: SenderIdentity) -> None:
        await self.session.delete(identity)
        await self.session.flush()

    async def forget_in_reminders(self, identity: SenderIdentity) -> int:
        """Take the identity out of the reminders that name it (`sender_identity_ids`): they
        send as the channel's default from then on. How many reminders named it."""
        stmt = select(Reminder).where(
            Reminder.business_id == identity.business_id,
            Reminder.sender_identity_ids.is_not(None),
        )
        changed = 0
        for reminder in await self.session.scalars(stmt):
            named = dict(reminder.sender_identity_ids or {})
            if named.get(identity.channel) == str(identity.id):
                del named[identity.channel]
                reminder.sender_identity_ids = named or None
                changed += 1
        await self.session.flush()
        return changed

    async def take_code_attempt(
        self, identity: SenderIdentity, code_hash: str, max_attempts: int
    ) -> int | None:
        """Count one try of the pending code `code_hash` in one statement, so parallel
        guesses cannot share a try: the tries made (this one included), or None when that
        code was replaced or used, or has no tries left."""
        stmt = (
            update(SenderIdentity)
            .where(
                SenderIdentity.id == identity.id,
                SenderIdentity.verification_code_hash == code_hash,
                SenderIdentity.verification_attempts < max_attempts,
            )
            .values(verification_attempts=SenderIdentity.verification_attempts + 1)
            .returning(SenderIdentity.verification_attempts)
            .execution_options(synchronize_session=False)
        )
        attempts: int | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return attempts

    async def consume_code(self, identity: SenderIdentity, code_hash: str, now: datetime) -> bool:
        """Mark the identity verified and forget the code, if `code_hash` is still pending
        (one of two parallel confirmations wins); False when it is not."""
        stmt = (
            update(SenderIdentity)
            .where(
                SenderIdentity.id == identity.id,
                SenderIdentity.verification_code_hash == code_hash,
            )
            .values(
                verified_at=now,
                verification_code_hash=None,
                verification_expires_at=None,
                verification_attempts=0,
            )
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        await self.session.refresh(identity)
        return bool(result.rowcount)  # type: ignore[attr-defined]


class VerificationSendRepository:
    """Verification codes sent: counted per destination and per business for the limits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def serialize(self, *keys: str) -> None:
        """Make parallel sends for the same keys take turns until the transaction ends
        (PostgreSQL advisory locks; SQLite has one writer anyway), so that two requests
        cannot both pass a limit with one send left."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for key in sorted(keys):  # one order everywhere: no deadlock between two requests
            await self.session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))
            )

    async def window(
        self,
        since: datetime,
        *,
        destination_digest: str | None = None,
        business_id: uuid.UUID | None = None,
    ) -> tuple[int, datetime | None]:
        """How many codes went out since `since` to the destination or for the business,
        and when the earliest of them did."""
        stmt = select(func.count(), func.min(VerificationSend.sent_at)).where(
            VerificationSend.sent_at >= since
        )
        if destination_digest is not None:
            stmt = stmt.where(VerificationSend.destination_digest == destination_digest)
        if business_id is not None:
            stmt = stmt.where(VerificationSend.business_id == business_id)
        count, earliest = (await self.session.execute(stmt)).one()
        return int(count), earliest

    def add(self, send: VerificationSend) -> None:
        self.session.add(send)
