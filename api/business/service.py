from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.business.schemas import BusinessUpdate, MemberCreate, MemberRead
from api.deps import Actor
from api.errors import Conflict, NotFound, Unprocessable
from core.enums import Role
from core.models import Business, Membership, User
from core.repositories.users import RefreshTokenRepository, UserRepository
from core.security import PasswordHasher
from core.types import utcnow


def member_read(membership: Membership) -> MemberRead:
    return MemberRead(
        id=membership.id,
        user_id=membership.user_id,
        email=membership.user.email,
        full_name=membership.user.full_name,
        role=Role(membership.role),
        is_active=membership.user.is_active,
        created_at=membership.created_at,
    )


async def list_members(session: AsyncSession, actor: Actor) -> list[Membership]:
    return await UserRepository(session).list_members(actor.business_id)


async def update_business(session: AsyncSession, actor: Actor, data: BusinessUpdate) -> Business:
    business = actor.business
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "timezone", "default_channels"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    start = changes.get("send_window_start", business.send_window_start)
    end = changes.get("send_window_end", business.send_window_end)
    if start is not None and end is not None and start == end:
        raise Unprocessable("send_window_start and send_window_end must differ")
    for key, value in changes.items():
        if key == "default_channels":
            value = [str(c) for c in value]
        setattr(business, key, value)
    actor.record(
        session,
        "business.updated",
        "business",
        business.id,
        **{k: str(v) for k, v in changes.items()},
    )
    await session.commit()
    return business


async def add_member(
    session: AsyncSession, passwords: PasswordHasher, actor: Actor, data: MemberCreate
) -> Membership:
    users = UserRepository(session)
    if await users.get_by_email(data.email) is not None:
        raise Conflict("An account with this email already exists")
    hashed = await passwords.hash(data.password)
    user = await users.add(User(email=data.email, full_name=data.full_name, hashed_password=hashed))
    membership = await users.add_membership(
        Membership(business_id=actor.business_id, user_id=user.id, role=data.role.value)
    )
    actor.record(session, "member.added", "user", user.id, email=user.email, role=data.role.value)
    loaded = await users.get_membership(actor.business_id, membership.id)
    assert loaded is not None
    await session.commit()
    return loaded


async def remove_member(session: AsyncSession, actor: Actor, membership_id: uuid.UUID) -> None:
    users = UserRepository(session)
    membership = await users.get_membership(actor.business_id, membership_id)
    if membership is None:
        raise NotFound("Member not found")
    if membership.role == "owner" and await users.count_owners(actor.business_id) <= 1:
        raise Conflict("A business keeps at least one owner")
    actor.record(session, "member.removed", "user", membership.user_id, email=membership.user.email)
    # Staff belong to one business: removing them ends the account and its sessions at
    # once, as a superuser's delete does; the row stays so the audit log still names them.
    now = utcnow()
    await RefreshTokenRepository(session).revoke_all_for_user(membership.user_id, now)
    user = await users.get(membership.user_id, fresh=True)  # with its membership
    assert user is not None  # the membership holds it
    await users.mark_deleted(user, now)
    await session.commit()
