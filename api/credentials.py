"""What every credential a business stores with us obeys (its SMTP password, its Twilio
auth token, any future one): a stored secret never follows a changed destination.

Changing where a secret is sent (a server's host, port or login, a Twilio account) without
giving the secret again would hand the stored secret to a place of the caller's choosing:
whoever can edit the settings, or has stolen a session, could read the password off their
own server. So such a change must carry the secret again (or forget it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.errors import Unprocessable


def moved_fields(current: object, changes: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """The `fields` that `changes` sets to something other than their current value."""
    return [name for name in fields if name in changes and changes[name] != getattr(current, name)]


def require_secret_for_new_destination(
    *, secret: str, stored: bool, given: bool, moved: list[str]
) -> None:
    """422 when a stored secret would be sent to a destination changed by `moved` without
    the caller giving the secret again."""
    if stored and moved and not given:
        raise Unprocessable(
            f"{secret}: changing {' and '.join(moved)} changes where the stored {secret} "
            f"would be sent, so give the {secret} again with the change"
        )
