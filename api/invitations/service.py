"""Owners invite staff by email: a pending invitation per address, its link emailed
through the platform's provider, listed until used, revoked or expired."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.account_mail import link, send_account_email
from api.deps import Actor
from api.errors import Conflict, NotFound
from api.invitations.schemas import InvitationCreate, InvitationCreated, InvitationRead
from core.invitation_models import Invitation
from core.repositories.invitations import InvitationRepository
from core.repositories.users import UserRepository
from core.settings import Settings
from core.types import utcnow

INVITATION_PATH = "/admin/invitations/"


def hash_token(token: str) -> str:
    # A plain SHA-256 is enough: the token is random and long, not a password to guess.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def _check_invitable(
    session: AsyncSession, actor: Actor, email: str, settings: Settings
) -> None:
    existing = await UserRepository(session).get_by_email(email)
    if existing is not None and existing.membership is not None:
        if existing.membership.business_id == actor.business_id:
            raise Conflict("This person is already on the business's staff")
        raise Conflict("An account with this email already belongs to another business")
    invitations = InvitationRepository(session)
    now = utcnow()
    if await invitations.pending_for(actor.business_id, email, now):
        raise Conflict("An invitation to this email is already pending; revoke it to send another")
    most = settings.INVITATIONS_MAX_PENDING
    if await invitations.count_pending(actor.business_id, now) >= most:
        raise Conflict(
            f"The business has {most} pending invitations (INVITATIONS_MAX_PENDING); "
            "revoke some or wait until they are used"
        )


def _email(actor: Actor, invitation: Invitation, url: str) -> tuple[str, str]:
    business = actor.business.name
    subject = f"{actor.user.full_name} invited you to {business}"
    body = (
        f"{actor.user.full_name} ({actor.user.email}) invited you to join {business}'s staff "
        f"on the reminders dashboard, as {invitation.role}.\n\n"
        f"Accept the invitation and choose your password here:\n\n{url}\n\n"
        f"The link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC. If you did "
        "not expect it, ignore this email.\n"
    )
    return subject, body


async def invite(
    session: AsyncSession, actor: Actor, data: InvitationCreate, settings: Settings
) -> InvitationCreated:
    """Record the invitation, then email its link (the only place the token goes)."""
    await _check_invitable(session, actor, data.email, settings)
    token = secrets.token_urlsafe(32)
    invitation = await InvitationRepository(session).add(
        Invitation(
            business_id=actor.business_id,
            email=data.email,
            role=data.role.value,
            token_hash=hash_token(token),
            invited_by_user_id=actor.user.id,
            expires_at=(utcnow() + timedelta(days=settings.INVITATION_DAYS)).replace(microsecond=0),
        )
    )
    actor.record(
        session, "invitation.created", "invitation", invitation.id, email=data.email, role=data.role
    )
    read = InvitationRead.model_validate(invitation)
    await session.commit()
    subject, body = _email(actor, invitation, link(settings, INVITATION_PATH + token))
    sent = await send_account_email(
        settings, data.email, subject, body, "invitation", from_name=actor.business.name
    )
    return InvitationCreated(**read.model_dump(), email_sent=sent)


async def pending(session: AsyncSession, actor: Actor) -> list[InvitationRead]:
    rows = await InvitationRepository(session).pending(actor.business_id, utcnow())
    return [InvitationRead.model_validate(row) for row in rows]


async def revoke(session: AsyncSession, actor: Actor, invitation_id: uuid.UUID) -> None:
    """End a pending invitation: its link stops working. One already accepted stays."""
    invitation = await InvitationRepository(session).get(actor.business_id, invitation_id)
    if invitation is None:
        raise NotFound("Invitation not found")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted: remove the member instead")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        actor.record(
            session, "invitation.revoked", "invitation", invitation.id, email=invitation.email
        )
    await session.commit()
