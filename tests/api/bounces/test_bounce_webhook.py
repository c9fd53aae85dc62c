"""The bounce webhook's door: without BOUNCE_WEBHOOK_SECRET it is not there, without the
secret it is shut, and what is not an RFC 3464 report gets a 4xx that says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.builders.bounces import BOUNCE_SECRET, dsn, post_bounce
from tests.conftest import settings_changed


@pytest.fixture
def secret_set(app: Any) -> Iterator[None]:
    with settings_changed(app, BOUNCE_WEBHOOK_SECRET=BOUNCE_SECRET):
        yield


async def test_without_a_configured_secret_there_is_no_bounce_route(
    client: httpx.AsyncClient,
) -> None:
    for secret in (BOUNCE_SECRET, "", None):
        response = await post_bounce(client, dsn("<x@example.com>"), secret=secret)
        assert response.status_code == 404, response.text


@pytest.mark.usefixtures("secret_set")
async def test_a_wrong_secret_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    for secret, basic in (("nope", False), ("nope", True), (BOUNCE_SECRET[:-1], False)):
        response = await post_bounce(client, b"not a message", secret=secret, basic=basic)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    garbled = await client.post(
        "/api/v1/webhooks/email/bounce",
        content=dsn("<x@example.com>"),
        headers={"Content-Type": "message/rfc822", "Authorization": "Basic %%%"},
    )
    assert garbled.status_code == 401


@pytest.mark.usefixtures("secret_set")
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "message/rfc822", 422),
        (b"\xff\xfe\x00garbage", "message/rfc822", 422),
        (b"Subject: hello\n\nJust a letter.", "message/rfc822", 422),
        (b"Content-Type: multipart/report; report-type=delivery-status\n\n", "message/rfc822", 422),
        (
            b"Content-Type: multipart/report; report-type=disposition-notification; "
            b"boundary=x\n\n--x\nContent-Type: text/plain\n\nread\n--x--\n",
            "message/rfc822",
            422,
        ),
        (b'{"message": "bounce"}', "application/json", 415),
        (b"", "text/plain", 415),
    ],
)
async def test_what_is_not_a_delivery_status_notification_is_refused(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await post_bounce(client, body, content_type=content_type)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


@pytest.mark.usefixtures("secret_set")
async def test_a_report_about_no_message_of_ours_is_accepted_and_ignored(
    client: httpx.AsyncClient,
) -> None:
    for message_id in ("<unknown@example.org>", "", "no brackets at all"):
        response = await post_bounce(client, dsn(message_id))
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "accepted"}
