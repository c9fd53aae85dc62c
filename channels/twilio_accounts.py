"""A Twilio account checked with Twilio: whether a token opens the account, whether the
account can send (a suspended or closed one cannot), and whether a messaging service is
the account's. Reads only; sends nothing. Used before a business's own account is saved
and by its "test" (api/twilio_credentials).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from channels.twilio_messages import BaseUrlAsyncHttpClient
from core.settings import Settings

MAX_ERROR = 500
Stage = Literal["connect", "auth", "messaging_service"]


@dataclass(frozen=True)
class AccountCheck:
    """`ok` with the account's name and status, or the stage that failed and Twilio's
    error; never the token."""

    ok: bool
    account_name: str | None = None
    account_status: str | None = None
    stage: Stage | None = None
    error: str | None = None


async def check_account(
    settings: Settings, account_sid: str, token: str, service_sid: str | None
) -> AccountCheck:
    http = BaseUrlAsyncHttpClient(settings.TWILIO_API_BASE_URL, settings.TWILIO_TIMEOUT_SECONDS)
    client = Client(account_sid, token, http_client=http)
    stage: Stage = "auth"
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
        return replace(refused, account_name=account.friendly_name, account_status=account_status)
    return AccountCheck(ok=True, account_name=account.friendly_name, account_status=account_status)


def _failure(stage: Stage, text: str, token: str) -> AccountCheck:
    return AccountCheck(ok=False, stage=stage, error=text.replace(token, "***")[:MAX_ERROR])
