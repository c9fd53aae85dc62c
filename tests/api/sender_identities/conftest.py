"""Fixtures of the verification tests: an app whose platform providers are the real SMTP
and Twilio clients, each pointed at a local server of the test's own, and its owner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from core.settings import EmailBackend, MessagingBackend, Settings
from tests.builders.apps import PLATFORM_EMAIL, PLATFORM_NUMBER
from tests.conftest import TWILIO_SID, TWILIO_TOKEN, Tenant, app_client, register_tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(TWILIO_SID, TWILIO_TOKEN) as fake:
        yield fake


@pytest.fixture
async def http(
    settings: Settings, smtp: FakeSmtpServer, twilio: FakeTwilio
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose platform providers are the real SMTP and Twilio clients, pointed at
    the local servers."""
    purpose = settings.model_copy(
        update={
            **smtp.smtp_settings(),
            "EMAIL_BACKEND": EmailBackend.smtp,
            "SMTP_TIMEOUT_SECONDS": 5.0,
            "DEFAULT_FROM_EMAIL": PLATFORM_EMAIL,
            "SMS_BACKEND": MessagingBackend.twilio,
            "WHATSAPP_BACKEND": MessagingBackend.twilio,
            "TWILIO_API_BASE_URL": twilio.url,
            "TWILIO_FROM_NUMBER": PLATFORM_NUMBER,
            "TWILIO_WHATSAPP_FROM": PLATFORM_NUMBER,
        }
    )
    async with app_client(purpose) as client:
        yield client


@pytest.fixture
async def boss(http: httpx.AsyncClient) -> Tenant:
    return await register_tenant(http, "Acme")
