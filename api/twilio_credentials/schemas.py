from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel

from api.schemas import InputModel, ReadModel
from api.sender_identities.schemas import MessagingServiceSid
from core.models import TwilioCredentials

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")

Stage = Literal["connect", "auth", "messaging_service"]


def _check_account_sid(value: str) -> str:
    if not _ACCOUNT_SID.fullmatch(value):
        raise ValueError("an account SID is AC followed by 32 hex characters")
    return value


def _check_auth_token(value: str) -> str:
    # Never echoed back, not even in a validation error (see api.errors).
    if not _AUTH_TOKEN.fullmatch(value):
        raise ValueError("an auth token is 32 hex characters (Twilio Console, Account Info)")
    return value


AccountSid = Annotated[str, AfterValidator(_check_account_sid)]
AuthToken = Annotated[str, AfterValidator(_check_auth_token)]


class TwilioCredentialsWrite(InputModel):
    """`auth_token` may be left out to keep the stored one, for the same account only."""

    account_sid: AccountSid
    auth_token: AuthToken | None = None
    messaging_service_sid: MessagingServiceSid | None = None


class TwilioCredentialsRead(ReadModel):
    account_sid: str
    messaging_service_sid: str | None
    has_auth_token: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, credentials: TwilioCredentials) -> TwilioCredentialsRead:
        return cls(
            account_sid=credentials.account_sid,
            messaging_service_sid=credentials.messaging_service_sid,
            has_auth_token=bool(credentials.auth_token_encrypted),
            created_at=credentials.created_at,
            updated_at=credentials.updated_at,
        )


class TwilioCredentialsTestResult(BaseModel):
    """`ok: true` with the account's name and status, or `ok: false` with the stage that
    failed (connect, auth, messaging_service) and Twilio's error; never the token."""

    ok: bool
    account_name: str | None = None
    account_status: str | None = None
    stage: Stage | None = None
    error: str | None = None
