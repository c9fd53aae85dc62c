"""An app whose platform email goes over real SMTP to a local aiosmtpd server, for the
emails about people's own accounts (reset links, invitations), and reading links back."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from core.settings import EmailBackend, Settings
from tests.builders.apps import PLATFORM_EMAIL, built_app, http_from
from tests.conftest import PUBLIC_BASE_URL
from tests.fakes.smtp import FakeSmtpServer, ReceivedMessage

LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"/\S+")


@dataclass
class MailApp:
    app: Any
    http: httpx.AsyncClient
    smtp: FakeSmtpServer


@asynccontextmanager
async def mail_app(settings: Settings, **overrides: Any) -> AsyncIterator[MailApp]:
    """An app of its own sending its email to a local SMTP server, called from one address."""
    with FakeSmtpServer() as smtp:
        async with built_app(
            settings,
            **smtp.smtp_settings(),
            EMAIL_BACKEND=EmailBackend.smtp,
            SMTP_TIMEOUT_SECONDS=5.0,
            DEFAULT_FROM_EMAIL=PLATFORM_EMAIL,
            **overrides,
        ) as app:
            async with http_from(app) as http:
                yield MailApp(app, http, smtp)


def link_in(message: ReceivedMessage) -> str:
    found = LINK.search(message.text)
    assert found, f"no link in the email:\n{message.text}"
    return found.group(0)


def reset_token_in(message: ReceivedMessage) -> str:
    link = urlsplit(link_in(message))
    assert link.path == "/admin/reset-password"
    return parse_qs(link.fragment)["token"][0]


def invitation_path_in(message: ReceivedMessage) -> str:
    """The invitation page's path (`/admin/invitations/<token>`) the email links to."""
    link = urlsplit(link_in(message))
    assert link.path.startswith("/admin/invitations/")
    return link.path


def invitation_token_in(message: ReceivedMessage) -> str:
    return invitation_path_in(message).rsplit("/", 1)[1]
