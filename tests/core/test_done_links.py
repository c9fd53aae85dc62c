"""A client's done link: the token says what it was made for, and nothing else reads as
one of ours (another key, any changed character, another spelling of the same bytes)."""

from __future__ import annotations

import string
import uuid
from datetime import UTC, datetime, timedelta

from core.done_links import DoneLink, make_done_token, read_done_token

SECRET = "s" * 40
LINK = DoneLink(
    reminder_id=uuid.uuid4(),
    client_id=uuid.uuid4(),
    period="2027-01-07T09:00:00Z",
    expires_at=datetime(2027, 3, 1, tzinfo=UTC),
)
ALPHABET = string.ascii_letters + string.digits + "-_"


def test_a_token_reads_back_as_the_link_it_was_made_for() -> None:
    token = make_done_token(SECRET, LINK)
    assert len(token) == 86
    assert read_done_token(SECRET, token) == LINK
    assert LINK.expired(LINK.expires_at)
    assert not LINK.expired(LINK.expires_at - timedelta(seconds=1))


def test_another_key_or_any_changed_character_is_not_one_of_ours() -> None:
    token = make_done_token(SECRET, LINK)
    assert read_done_token("x" * 40, token) is None
    for i in range(len(token)):
        for char in ALPHABET:
            if char != token[i]:
                changed = token[:i] + char + token[i + 1 :]
                assert read_done_token(SECRET, changed) is None, (i, char)


def test_malformed_tokens_are_refused() -> None:
    token = make_done_token(SECRET, LINK)
    for bad in ("", "A" * 86, token[:-1], token + "A", token.replace(token[0], "é", 1), "*" * 86):
        assert read_done_token(SECRET, bad) is None
