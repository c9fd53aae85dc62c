"""Emails about people's own accounts (a password reset link, an invitation to a
business), sent through the platform's email provider: the one the worker and sender
verification use (`EMAIL_BACKEND`, `DEFAULT_FROM_EMAIL`)."""

from __future__ import annotations

import logging
import uuid

from channels import build_provider
from channels.providers import OutgoingMessage, SandboxProvider
from core.enums import Channel
from core.settings import Settings

log = logging.getLogger(__name__)


def link(settings: Settings, path: str) -> str:
    """An absolute link into this app (PUBLIC_BASE_URL)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


async def send_account_email(
    settings: Settings, to: str, subject: str, body: str, purpose: str, from_name: str | None = None
) -> bool:
    """Send one email; True when the provider took it. Failures are logged, not raised:
    these sends run after the answer (a background task) or must not change it."""
    provider = build_provider(settings, Channel.email)
    message = OutgoingMessage(
        channel=Channel.email.value,
        to=to,
        subject=subject,
        body=body,
        delivery_id=f"{purpose}-{uuid.uuid4().hex}",
        from_name=from_name,
    )
    try:
        await provider.send(message)
    except Exception as exc:  # the provider's failure, classified or not: logged alike
        log.warning("%s email could not be sent: %r", purpose, exc)
        return False
    finally:
        await provider.close()
    if isinstance(provider, SandboxProvider) and not settings.is_production:
        # Nothing left the machine (sandbox backend): the log is the only way to the link.
        log.info("sandbox: %s email to %s:\n%s", purpose, to, body)
    return True
