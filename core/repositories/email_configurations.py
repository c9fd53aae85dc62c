from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.enums import ReminderStatus
from core.models import EmailConfiguration, Reminder, SenderIdentity
from core.repositories.base import paginate


class EmailConfigurationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID, config_id: uuid.UUID) -> EmailConfiguration | None:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == business_id, EmailConfiguration.id == config_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def list(
        self, business_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[EmailConfiguration], int]:
        stmt = (
            select(EmailConfiguration)
            .where(EmailConfiguration.business_id == business_id)
            .order_by(EmailConfiguration.created_at, EmailConfiguration.id)
        )
        return await paginate(self.session, stmt, limit, offset)

    async def by_name(self, business_id: uuid.UUID, name: str) -> EmailConfiguration | None:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == business_id, EmailConfiguration.name == name
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_default(self, business_id: uuid.UUID) -> EmailConfiguration | None:
        stmt = select(EmailConfiguration).where(
            EmailConfiguration.business_id == business_id,
            EmailConfiguration.is_default.is_(True),
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def users(self, config: EmailConfiguration) -> tuple[int, int]:
        """How many live (scheduled or paused) reminders and how many sender identities of
        the configuration's business name it."""
        live = (ReminderStatus.scheduled.value, ReminderStatus.paused.value)
        reminders = select(func.count()).where(
            Reminder.business_id == config.business_id,
            Reminder.email_configuration_id == config.id,
            Reminder.status.in_(live),
        )
        identities = select(func.count()).where(
            SenderIdentity.business_id == config.business_id,
            SenderIdentity.email_configuration_id == config.id,
        )
        return (
            int(await self.session.scalar(reminders) or 0),
            int(await self.session.scalar(identities) or 0),
        )

    async def add(self, config: EmailConfiguration) -> EmailConfiguration:
        self.session.add(config)
        await self.session.flush()
        return config

    async def make_default(self, config: EmailConfiguration) -> None:
        """Move the business's default to `config`; the old one is cleared and flushed
        first, since the partial unique index holds at every statement."""
        current = await self.get_default(config.business_id)
        if current is not None and current.id != config.id:
            current.is_default = False
            await self.session.flush()
        config.is_default = True
        await self.session.flush()

    async def delete(self, config: EmailConfiguration) -> None:
        await self.session.delete(config)
        await self.session.flush()
