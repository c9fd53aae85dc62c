from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Template
from core.repositories.base import escape_like, paginate


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, business_id: uuid.UUID, template_id: uuid.UUID) -> Template | None:
        stmt = select(Template).where(
            Template.business_id == business_id, Template.id == template_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_name(self, business_id: uuid.UUID, name: str) -> Template | None:
        stmt = select(Template).where(Template.business_id == business_id, Template.name == name)
        return (await self.session.scalars(stmt)).one_or_none()

    async def list(
        self, business_id: uuid.UUID, search: str | None, limit: int, offset: int
    ) -> tuple[list[Template], int]:
        stmt: Any = select(Template).where(Template.business_id == business_id)
        if search:
            stmt = stmt.where(Template.name.ilike(f"%{escape_like(search)}%", escape="\\"))
        stmt = stmt.order_by(Template.name, Template.id)
        return await paginate(self.session, stmt, limit, offset)

    async def add(self, template: Template) -> Template:
        self.session.add(template)
        await self.session.flush()
        return template

    async def delete(self, template: Template) -> None:
        await self.session.delete(template)
        await self.session.flush()
