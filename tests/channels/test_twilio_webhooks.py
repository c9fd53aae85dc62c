"""Reading Twilio's callbacks: keywords as Twilio's own STOP filtering reads them, WhatsApp
senders, statuses in either field name, and the TwiML answer. (What they change is tested
through the API in tests/api/webhooks.)"""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import pytest

from channels.twilio_webhooks import (
    HELP_TEXT,
    InboundMessage,
    StatusReport,
    help_reply,
    keyword,
    parse_address,
    twiml,
)
from core.enums import Channel, DeliveryStatus


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("STOP", "STOP"),
        ("stop.", "STOP"),
        ("Stop texting me", "STOP"),
        ("HELP, what is this?", "HELP"),
        ("yes", "YES"),
        ("Yes, see you then", None),
        ("Cancel my appointment", None),
        ("", None),
        ("   ", None),
        ("stopping by later", None),
        ("Done", "DONE"),
        ("done!", "DONE"),
        ("DONE, sent it this morning", "DONE"),
        ("I'm done", None),
        ("doneness", None),
    ],
)
def test_a_keyword_counts_alone_or_leading_only_when_it_says_what_it_means(
    body: str, word: str | None
) -> None:
    assert keyword(body) == word


def test_a_whatsapp_sender_is_its_number_on_whatsapp_and_anything_else_is_sms() -> None:
    assert parse_address(" WhatsApp:+447700900123 ") == (Channel.whatsapp, "+447700900123")
    assert parse_address("+447700900123") == (Channel.sms, "+447700900123")


def test_a_status_reads_from_either_field_name_and_unknown_ones_map_to_nothing() -> None:
    delivery_id = uuid.uuid4()
    old = StatusReport.from_params({"SmsSid": " SM1 ", "SmsStatus": "Delivered"}, delivery_id)
    assert (old.message_sid, old.status, old.delivery_id) == (
        "SM1",
        DeliveryStatus.delivered,
        delivery_id,
    )
    failed = StatusReport.from_params(
        {"MessageSid": "SM2", "MessageStatus": "undelivered", "ErrorCode": " 30003 "}
    )
    assert (failed.status, failed.error_code) == (DeliveryStatus.undelivered, "30003")
    assert StatusReport.from_params({"MessageSid": "SM3", "MessageStatus": "paused"}).status is None


def test_an_inbound_message_keeps_its_fields_and_an_empty_service_is_none() -> None:
    message = InboundMessage.from_params(
        {"From": "whatsapp:+1", "To": "+2", "Body": "STOP", "MessagingServiceSid": ""}
    )
    assert message == InboundMessage(from_="whatsapp:+1", to="+2", body="STOP")


def test_help_names_the_business_only_when_there_is_exactly_one() -> None:
    assert help_reply(["Acme & Co"]) == f"Acme & Co: {HELP_TEXT}"
    assert help_reply(["A", "B"]) == HELP_TEXT
    assert help_reply([]) == HELP_TEXT


def test_the_twiml_answer_escapes_the_reply_and_may_be_empty() -> None:
    root = ElementTree.fromstring(twiml("Acme <&> Co: hi"))
    assert [m.text for m in root.iter("Message")] == ["Acme <&> Co: hi"]
    assert list(ElementTree.fromstring(twiml(None)).iter("Message")) == []
