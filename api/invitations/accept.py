"""The invitee's side: reading an invitation by its link's token, and accepting it, which
makes the account (or brings an existing account without a business in) and its
membership. Shared by `POST /invitations/accept` and the dashboard's invitation page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.service import authenticate_throttled, issue_tokens, user_read
from api.errors import AppError, Conflict, NotFound, Unprocessable
from api.invitations.schemas import InvitationAccept, InvitationAccepted
from api.invitations.service import hash_token
from api.throttle import Throttle
from core.events import record_event
from core.invitation_models import Invitation
from core.models import Business, Membership, User
from core.repositories.invitations import InvitationRepository
from core.repositories.users import BusinessRepository, UserRepository
from core.security import PasswordHasher
from core.settings import Settings
from core.types import utcnow

MAX_TOKEN = 200


class Gone(AppError):
    status_code = 410
    default_detail = "This invitation no longer works"


@dataclass(frozen=True)
class NewAccount:
    """What the invitee gives: a name (for a new account) and a password (the new
    account's, or the existing account's own), from this client address."""

    full_name: str | None
    password: str
    ip: str | None


@dataclass(frozen=True)
class Found:
    invitation: Invitation
    business: Business
    account: User | None  # the account that already has the invited email, if any


async def look_up(session: AsyncSession, token: str) -> Found:
    """The pending invitation behind a link; 404 for a token we never issued, 410 for one
    used, revoked or expired, each saying which."""
    invitation = None
    if 0 < len(token) <= MAX_TOKEN:
        invitation = await InvitationRepository(session).by_token_hash(hash_token(token))
    if invitation is None:
        raise NotFound("This invitation link is not valid: check that it was copied whole")
    if invitation.accepted_at is not None:
        raise Gone("This invitation was already accepted: sign in instead")
    if invitation.revoked_at is not None:
        raise Gone("This invitation was withdrawn: ask the business for a new one")
    if invitation.expires_at <= utcnow():
        raise Gone("This invitation has expired: ask the business for a new one")
    business = await BusinessRepository(session).get(invitation.business_id)
    if business is None:  # pragma: no cover - the invitation goes with its business
        raise NotFound("This invitation link is not valid")
    account = await UserRepository(session).get_by_email(invitation.email)
    return Found(invitation, business, account)


async def _account(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    found: Found,
    account: NewAccount,
) -> User:
    """The invited email's account: the existing one (its password proves it is theirs,
    checked as a sign-in is, within the same limits), else a new one."""
    users = UserRepository(session)
    user = found.account
    if user is not None:
        if user.membership is not None:
            raise Conflict("Your account already belongs to a business")
        return await authenticate_throttled(
            session, throttle, passwords, user.email, account.password, account.ip
        )
    full_name, password = account.full_name, account.password
    if not full_name:
        raise Unprocessable("full_name: your name is needed for the new account")
    hashed = await passwords.hash(password)
    return await users.add(
        User(email=found.invitation.email, full_name=full_name, hashed_password=hashed)
    )


async def accept(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    token: str,
    account: NewAccount,
) -> tuple[User, Business]:
    """Use the invitation once: the account joins the business with the invited role."""
    found = await look_up(session, token)
    invitation = found.invitation
    user = await _account(session, throttle, passwords, found, account)
    if not await InvitationRepository(session).take(invitation.id, user.id, utcnow()):
        raise Gone("This invitation was used or withdrawn a moment ago")
    users = UserRepository(session)
    await users.add_membership(
        Membership(business_id=invitation.business_id, user_id=user.id, role=invitation.role)
    )
    record_event(
        session,
        "invitation.accepted",
        business_id=invitation.business_id,
        actor_user_id=user.id,
        subject_type="invitation",
        subject_id=invitation.id,
        payload={"email": user.email, "role": invitation.role, "user_id": str(user.id)},
        ip_address=account.ip,
    )
    loaded = await users.get(user.id, fresh=True)  # with its new membership
    assert loaded is not None
    return loaded, found.business


async def accept_for_api(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    settings: Settings,
    data: InvitationAccept,
    ip: str | None,
) -> InvitationAccepted:
    """`accept`, signed in: the answer carries the new member's tokens."""
    account = NewAccount(data.full_name, data.password, ip)
    user, business = await accept(session, throttle, passwords, data.token, account)
    tokens = await issue_tokens(session, user, settings)
    await session.commit()
    return InvitationAccepted(**tokens.model_dump(), user=user_read(user), business_id=business.id)


async def accept_for_browser(
    session: AsyncSession,
    throttle: Throttle,
    passwords: PasswordHasher,
    token: str,
    account: NewAccount,
) -> User:
    """`accept`, committed; the dashboard then signs the member in with a session."""
    user, _ = await accept(session, throttle, passwords, token, account)
    await session.commit()
    return user
