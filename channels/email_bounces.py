"""What an email bounce says, in RFC 3464's words: a delivery status notification (a
`multipart/report; report-type=delivery-status` message) read with Python's `email`
package into the message it is about and what happened to each recipient.

The message it is about is named by the Message-ID of the original, which the report
carries in its `text/rfc822-headers` or `message/rfc822` part. Ours is
`<delivery_id>@domain` (channels/smtp.py), stored without its brackets as the delivery's
`provider_message_id`. Only `Action: failed` with a `5.x.x` status is a hard bounce;
`delayed` (and any 4.x.x) is the remote server still trying, not a failure.

The HTTP route is api/bounces/router.py and what a bounce changes api/bounces/service.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.errors import MessageError
from email.message import Message
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value

# A report names one message of ours (one recipient each); more than this is not ours.
MAX_RECIPIENTS = 100
MAX_DIAGNOSTIC_LENGTH = 500
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
# Printable ASCII, as ours are: anything else is not a message of ours.
_MESSAGE_ID = re.compile(r"<([\x21-\x3b\x3d\x3f-\x7e]{1,200})>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class NotAReport(ValueError):
    """The body is not a delivery status notification."""


@dataclass(frozen=True)
class RecipientStatus:
    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str | None  # "5.1.1"; None when missing or malformed
    diagnostic: str | None  # Diagnostic-Code, control characters removed, truncated

    @property
    def hard_bounce(self) -> bool:
        return self.action == "failed" and self.status is not None and self.status[0] == "5"


@dataclass(frozen=True)
class Bounce:
    message_id: str | None  # the original's Message-ID without brackets
    recipients: list[RecipientStatus]

    @property
    def hard_failure(self) -> RecipientStatus | None:
        """The first recipient that bounced for good, or None (delayed, delivered...)."""
        return next((r for r in self.recipients if r.hard_bounce), None)


def parse_report(raw: bytes) -> Bounce:
    """The bounce in a raw RFC 5322 message; raises NotAReport when it is not an
    RFC 3464 delivery status notification."""
    try:
        message = message_from_bytes(raw, policy=policy.compat32)
        return _bounce(message)
    except (MessageError, LookupError, TypeError, UnicodeError) as exc:
        raise NotAReport(f"The message cannot be read: {type(exc).__name__}") from None


def _bounce(message: Message) -> Bounce:
    if message.get_content_type() != "multipart/report" or not message.is_multipart():
        raise NotAReport("Expected a multipart/report message (RFC 3464)")
    report_type = collapse_rfc2231_value(message.get_param("report-type") or "")
    if str(report_type).strip().lower() != "delivery-status":
        raise NotAReport("Expected report-type=delivery-status")
    parts = [p for p in message.get_payload() if isinstance(p, Message)]  # type: ignore[union-attr]
    status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    if status is None:
        raise NotAReport("The report has no message/delivery-status part")
    groups = [g for g in status.get_payload() or [] if isinstance(g, Message)]
    if not groups:
        raise NotAReport("The delivery-status part has no fields")
    # The first group is about the message (Reporting-MTA...), the others one recipient each.
    return Bounce(
        message_id=_original_message_id(parts),
        recipients=[_recipient(group) for group in groups[1 : MAX_RECIPIENTS + 1]],
    )


def _recipient(group: Message) -> RecipientStatus:
    status = _STATUS.search(str(group.get("Status") or ""))
    return RecipientStatus(
        action=str(group.get("Action") or "").strip().lower()[:20],
        status=status.group(0) if status else None,
        diagnostic=_clean(group.get("Diagnostic-Code"), MAX_DIAGNOSTIC_LENGTH),
    )


def _original_message_id(parts: list[Message]) -> str | None:
    """The Message-ID of the message that bounced, from the report's copy of it."""
    for part in parts:
        original = _quoted(part)
        found = _MESSAGE_ID.search(str(original.get("Message-ID") or "")) if original else None
        if found:
            return found.group(1)
    return None


def _quoted(part: Message) -> Message | None:
    """The original's headers, when the part is a copy of them or of the whole message."""
    kind = part.get_content_type()
    if kind == "text/rfc822-headers":
        text = part.get_payload(decode=True)
        if not isinstance(text, bytes):
            return None
        return HeaderParser(policy=policy.compat32).parsestr(text.decode("utf-8", "replace"))
    if kind == "message/rfc822":
        inner = part.get_payload()
        original = inner[0] if isinstance(inner, list) and inner else None
        return original if isinstance(original, Message) else None
    return None


def _clean(value: object, limit: int) -> str | None:
    if value is None:
        return None
    # Bytes that were not ASCII arrive as lone surrogates, which no database would store.
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = _CONTROL.sub(" ", text).strip()
    return text[:limit] or None
