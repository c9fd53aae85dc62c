"""Secrets at rest (the SMTP passwords of email configurations, the auth tokens of businesses'
Twilio accounts, the signing secrets of webhook endpoints): Fernet under ENCRYPTION_KEYS.

`ENCRYPTION_KEYS` is a comma-separated list of Fernet keys (`Fernet.generate_key()`): the
first encrypts, every one decrypts, so a key is rotated by putting the new one first,
running `reminders rotate-keys` (re-encrypts every stored secret under it) and then dropping
the old one. Without ENCRYPTION_KEYS, development and testing derive a key from SECRET_KEY
(with a warning: changing SECRET_KEY then makes the stored secrets unreadable); production
refuses to start without it (`Settings.production_problems`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.keys import parse_keys
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

_DERIVATION_LABEL = b"reminders/encryption-key/v1:"


class SecretUnreadable(Exception):
    """A stored secret no key in ENCRYPTION_KEYS opens (a key was dropped too early)."""


def derived_key(secret_key: str) -> str:
    digest = hashlib.sha256(_DERIVATION_LABEL + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


class SecretBox:
    """Encrypts under the first key; decrypts under any of them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self.first_key = keys[0]
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with any key in ENCRYPTION_KEYS"
            ) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with any key in ENCRYPTION_KEYS"
            ) from None


@lru_cache(maxsize=8)
def _box(encryption_keys: str | None, secret_key: str) -> SecretBox:
    keys = parse_keys(encryption_keys)
    if not keys:
        log.warning(
            "ENCRYPTION_KEYS is not set: secrets at rest use a key derived from SECRET_KEY "
            "(development only; production refuses to start without ENCRYPTION_KEYS)"
        )
        keys = [derived_key(secret_key)]
    return SecretBox(keys)


def secret_box(settings: Settings | None = None) -> SecretBox:
    settings = settings or get_settings()
    return _box(settings.ENCRYPTION_KEYS, settings.SECRET_KEY)


def encrypt(text: str, settings: Settings | None = None) -> str:
    return secret_box(settings).encrypt(text)


def decrypt(token: str, settings: Settings | None = None) -> str:
    return secret_box(settings).decrypt(token)


@dataclass
class RotationReport:
    rotated: int  # re-encrypted under the first key
    current: int  # already under the first key: left alone


def _sealed_columns() -> list[Any]:
    """Every column that holds a secret as Fernet ciphertext."""
    from core.models import EmailConfiguration, TwilioCredentials
    from core.webhook_models import WebhookEndpoint

    return [
        EmailConfiguration.password_encrypted,
        TwilioCredentials.auth_token_encrypted,
        WebhookEndpoint.secret_encrypted,
    ]


async def rotate_stored_secrets(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> RotationReport:
    """Re-encrypt every stored secret under the first key of ENCRYPTION_KEYS (idempotent:
    what the first key already opens is left alone). All in one transaction."""
    box = secret_box(settings)
    first = Fernet(box.first_key)
    report = RotationReport(rotated=0, current=0)
    async with sessionmaker() as session:
        for column in _sealed_columns():
            table = column.class_
            rows = await session.execute(
                select(table.id, column, table.updated_at)
                .where(column.is_not(None))
                .order_by(table.id)
            )
            for row_id, token, updated_at in rows.all():
                try:
                    first.decrypt(token.encode())
                except InvalidToken:
                    pass
                else:
                    report.current += 1
                    continue
                # Through a statement that keeps updated_at: the row did not change.
                await session.execute(
                    update(table)
                    .where(table.id == row_id)
                    .values({column.key: box.rotate(token), "updated_at": updated_at})
                )
                report.rotated += 1
        await session.commit()
    return report
