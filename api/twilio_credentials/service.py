"""Save, read, remove and test a business's own Twilio account.

The auth token is encrypted before it is stored (core/crypto.py), never answered back,
never written to an event, and decrypted only to send (channels/business_twilio.py), to
check a webhook's signature (channels/twilio_webhooks.py) or to test it here.

Saving asks Twilio first: the token must open the account (and the messaging service must
be the account's). So only whoever holds an account's token can name its SID here, and
nobody can crowd a business's webhooks out by registering its SID under other businesses.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.credentials import require_secret_for_new_destination
from api.deps import Actor
from api.errors import NotFound, ServiceUnavailable, Unprocessable
from api.twilio_credentials.schemas import TwilioCredentialsTestResult, TwilioCredentialsWrite
from channels.twilio_accounts import check_account
from core.crypto import secret_box
from core.models import TwilioCredentials
from core.repositories.twilio_credentials import TwilioCredentialsRepository
from core.settings import Settings

NONE_YET = (
    "This business has no Twilio credentials: its SMS and WhatsApp go through the platform's "
    "Twilio account"
)


async def get_credentials(session: AsyncSession, actor: Actor) -> TwilioCredentials:
    credentials = await TwilioCredentialsRepository(session).get(actor.business_id)
    if credentials is None:
        raise NotFound(NONE_YET)
    return credentials


async def save_credentials(
    session: AsyncSession, actor: Actor, settings: Settings, data: TwilioCredentialsWrite
) -> tuple[TwilioCredentials, bool]:
    """Create or replace, once Twilio has accepted the credentials; True when created."""
    repo = TwilioCredentialsRepository(session)
    credentials = await repo.get(actor.business_id)
    if credentials is None and data.auth_token is None:
        raise Unprocessable("auth_token: required for a new Twilio account")
    require_secret_for_new_destination(
        secret="auth_token",
        stored=credentials is not None,
        given=data.auth_token is not None,
        moved=[]
        if credentials is None or credentials.account_sid == data.account_sid
        else ["account_sid"],
    )
    box = secret_box(settings)
    clear = data.auth_token
    if clear is None:
        assert credentials is not None
        clear = box.decrypt(credentials.auth_token_encrypted)  # unreadable: 409
    await _check_with_twilio(settings, data.account_sid, clear, data.messaging_service_sid)
    token = box.encrypt(data.auth_token) if data.auth_token else None
    created = credentials is None
    credentials = await _store(session, actor, credentials, data, token)
    actor.record(
        session,
        "twilio_credentials.created" if created else "twilio_credentials.updated",
        "twilio_credentials",
        credentials.id,
        account_sid=credentials.account_sid,
        messaging_service_sid=credentials.messaging_service_sid,
        token_changed=token is not None,
    )
    await session.commit()
    return credentials, created


async def _store(
    session: AsyncSession,
    actor: Actor,
    credentials: TwilioCredentials | None,
    data: TwilioCredentialsWrite,
    token: str | None,
) -> TwilioCredentials:
    """Add the business's credentials, or change the stored ones (a None token keeps the
    stored one); flushed."""
    if credentials is None:
        assert token is not None
        return await TwilioCredentialsRepository(session).add(
            TwilioCredentials(
                business_id=actor.business_id,
                account_sid=data.account_sid,
                auth_token_encrypted=token,
                messaging_service_sid=data.messaging_service_sid,
            )
        )
    credentials.account_sid = data.account_sid
    credentials.messaging_service_sid = data.messaging_service_sid
    if token is not None:
        credentials.auth_token_encrypted = token
    await session.flush()
    return credentials


async def _check_with_twilio(
    settings: Settings, account_sid: str, token: str, service_sid: str | None
) -> None:
    """Nothing is saved unless Twilio says the token opens the account (a suspended
    account still counts: its token is proven) and the messaging service is the account's."""
    result = await probe(settings, account_sid, token, service_sid)
    if result.ok or (result.stage == "auth" and result.account_status is not None):
        return
    if result.stage == "connect":
        raise ServiceUnavailable(
            f"Could not reach Twilio to check these credentials ({result.error}); "
            "nothing was saved, try again shortly"
        )
    field = "messaging_service_sid" if result.stage == "messaging_service" else "auth_token"
    raise Unprocessable(f"{field}: Twilio refused these credentials ({result.error})")


async def delete_credentials(session: AsyncSession, actor: Actor) -> None:
    credentials = await get_credentials(session, actor)
    actor.record(
        session,
        "twilio_credentials.deleted",
        "twilio_credentials",
        credentials.id,
        account_sid=credentials.account_sid,
    )
    await TwilioCredentialsRepository(session).delete(credentials)
    await session.commit()


async def test_credentials(
    session: AsyncSession, actor: Actor, settings: Settings
) -> TwilioCredentialsTestResult:
    """Fetch the account (and the messaging service) with the stored token; sends nothing."""
    credentials = await get_credentials(session, actor)
    token = secret_box(settings).decrypt(credentials.auth_token_encrypted)
    result = await probe(
        settings,
        credentials.account_sid,
        token,
        credentials.messaging_service_sid,
    )
    actor.record(
        session,
        "twilio_credentials.tested",
        "twilio_credentials",
        credentials.id,
        account_sid=credentials.account_sid,
        ok=result.ok,
        stage=result.stage,
    )
    await session.commit()
    return result


async def probe(
    settings: Settings, account_sid: str, token: str, service_sid: str | None
) -> TwilioCredentialsTestResult:
    """Twilio's answer about the account (channels/twilio_accounts.py), as the API says it."""
    check = await check_account(settings, account_sid, token, service_sid)
    return TwilioCredentialsTestResult.model_validate(check, from_attributes=True)
