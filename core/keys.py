"""ENCRYPTION_KEYS read as a list of Fernet keys: what the settings check at start-up and
what core.crypto encrypts with. Apart from core.crypto so the settings can check the keys
without importing what reads the settings (core.crypto imports core.settings)."""

from __future__ import annotations

from cryptography.fernet import Fernet


def parse_keys(value: str | None) -> list[str]:
    return [key.strip() for key in (value or "").split(",") if key.strip()]


def invalid_keys(value: str | None) -> list[int]:
    """Positions (1-based) of the entries of ENCRYPTION_KEYS that are not Fernet keys."""
    bad = []
    for position, key in enumerate(parse_keys(value), start=1):
        try:
            Fernet(key)
        except ValueError:
            bad.append(position)
    return bad
