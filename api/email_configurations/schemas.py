from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field

from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.models import EmailConfiguration

# starttls: plain connection upgraded with STARTTLS (required); tls: implicit TLS from the
# first byte (port 465); none: no encryption (a relay on a trusted network only).
Security = Literal["starttls", "tls", "none"]
Stage = Literal["connect", "tls", "auth", "send"]
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,253}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def _check_host(value: str) -> str:
    if not _HOST.fullmatch(value):
        raise ValueError("a host name or IP address, e.g. smtp.example.com")
    return value


Host = Annotated[str, AfterValidator(_check_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
Username = Annotated[str, Field(min_length=1, max_length=320)]
# Write-only: accepted here, never answered back (the read schema says `has_password`).
Password = Annotated[str, Field(min_length=1, max_length=1000)]


class EmailConfigurationCreate(InputModel):
    name: Name
    host: Host
    port: Port = 587
    security: Security = "starttls"
    username: Username | None = None
    password: Password | None = None
    from_email: EmailStr
    from_name: Name | None = None
    is_default: bool | None = None


class EmailConfigurationUpdate(InputModel):
    """`password: null` forgets the stored password; leaving it out keeps it."""

    name: Name | None = None
    host: Host | None = None
    port: Port | None = None
    security: Security | None = None
    username: Username | None = None
    password: Password | None = None
    from_email: EmailStr | None = None
    from_name: Name | None = None
    is_default: bool | None = None


class EmailConfigurationRead(ReadModel):
    id: uuid.UUID
    name: str
    host: str
    port: int
    security: str
    username: str | None
    from_email: str
    from_name: str | None
    is_default: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, config: EmailConfiguration) -> EmailConfigurationRead:
        return cls(
            id=config.id,
            name=config.name,
            host=config.host,
            port=config.port,
            security=config.security,
            username=config.username,
            from_email=config.from_email,
            from_name=config.from_name,
            is_default=config.is_default,
            has_password=config.password_encrypted is not None,
            created_at=config.created_at,
            updated_at=config.updated_at,
        )


class EmailConfigurationTestResult(BaseModel):
    """`ok: true` with the server's reply to the message, or `ok: false` with the stage
    that failed (connect, tls, auth, send) and the error; never the password."""

    ok: bool
    server_reply: str | None = None
    stage: Stage | None = None
    error: str | None = None
