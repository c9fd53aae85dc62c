"""RFC 3464 bounces as a mail server writes them, built with the `email` package, and the
inbound-mail service that posts them to the bounce webhook."""

from __future__ import annotations

import base64
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import httpx

BOUNCE_URL = "/api/v1/webhooks/email/bounce"
BOUNCE_SECRET = "bounce-secret-that-is-long-enough-0123"


def dsn(
    message_id: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    recipient: str = "ada@example.com",
    whole_message: bool = False,
) -> bytes:
    """A delivery status notification about the message with this Message-ID (brackets
    included), quoting its headers (`text/rfc822-headers`) or, with `whole_message`, the
    whole message (`message/rfc822`)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.net"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("Your message could not be delivered to one or more recipients."))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} <{recipient}>: Recipient unknown"
    status_part = Message()
    status_part.set_type("message/delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    if whole_message:
        original = Message()
        original["Message-ID"] = message_id
        original["Subject"] = "Payroll documents"
        original.set_payload("Hi Ada")
        report.attach(MIMEMessage(original))
    else:
        headers = f"Message-ID: {message_id}\nTo: {recipient}\nSubject: Payroll documents\n"
        report.attach(MIMEText(headers, "rfc822-headers"))
    return report.as_bytes()


async def post_bounce(
    http: httpx.AsyncClient,
    body: bytes,
    *,
    secret: str | None = BOUNCE_SECRET,
    basic: bool = False,
    content_type: str = "message/rfc822",
) -> httpx.Response:
    """The inbound-mail service posting a bounce it received."""
    headers = {"Content-Type": content_type}
    if secret is not None and basic:
        token = base64.b64encode(f"bounces:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif secret is not None:
        headers["X-Bounce-Secret"] = secret
    return await http.post(BOUNCE_URL, content=body, headers=headers)
