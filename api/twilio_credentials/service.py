"""Save, read, remove and test a business's own Twilio account.

The auth token is encrypted before it is stored (core/crypto.py), never answered back,
never written to an event, and decrypted only to send (channels/business_twilio.py), to
check a webhook's signature (channels/twilio_webhooks.py) or to test it here.

Saving asks Twilio first: the token must open the account (and the messaging service must
be the account's). So only whoever holds an account's token can name its SID here, and
nobody can crowd a business's webhooks out by registering its SID under other businesses.
"""

from __future__ import annotations

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from api.credentials import require_secret_for_new_destination
from api.deps import Actor
from api.errors import NotFound, ServiceUnavailable, Unprocessable
from api.twilio_credentials.schemas import TwilioCredentialsTestResult, TwilioCredentialsWrite
from channels.twilio_messages import BaseUrlAsyncHttpClient
from core.crypto import secret_box
from core.models import TwilioCredentials
from core.repositories.twilio_credentials import TwilioCredentialsRepository
from core.settings import Settings

MAX_ERROR = 500
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
    http = BaseUrlAsyncHttpClient(settings.TWILIO_API_BASE_URL, settings.TWILIO_TIMEOUT_SECONDS)
    client = Client(account_sid, token, http_client=http)
    stage = "auth"
    try:
        account = await client.api.v2010.accounts(account_sid).fetch_async()
        if service_sid:
            stage = "messaging_service"
            await client.messaging.v1.services(service_sid).fetch_async()
    except TwilioRestException as exc:
        if stage == "auth" and int(exc.status) not in (401, 403, 404):
            stage = "connect"  # Twilio answered, but not about these credentials
        text = str(exc.msg).removeprefix("Unable to fetch record: ")
        return _failure(stage, f"Twilio answered {exc.status}: {text}", token)
    except TimeoutError:
        return _failure(
            "connect", f"no answer from Twilio within {settings.TWILIO_TIMEOUT_SECONDS:g} s", token
        )
    except aiohttp.ClientError as exc:
        return _failure("connect", f"{exc.__class__.__name__}: {exc}", token)
    finally:
        await http.close()
    account_status = str(account.status) if account.status is not None else None
    if account_status not in (None, "active"):
        # The token works, but a suspended or closed account sends nothing.
        refused = _failure("auth", f"Twilio says the account is {account_status}", token)
        return refused.model_copy(
            update={"account_name": account.friendly_name, "account_status": account_status}
        )
    return TwilioCredentialsTestResult(
        ok=True, account_name=account.friendly_name, account_status=account_status
    )


def _failure(stage: str, text: str, token: str) -> TwilioCredentialsTestResult:
    return TwilioCredentialsTestResult(
        ok=False,
        stage=stage,  # type: ignore[arg-type]
        error=text.replace(token, "***")[:MAX_ERROR],
    )
