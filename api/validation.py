"""Validators shared by schemas and the CSV import: time zones, E.164 phones, channels."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, StringConstraints

from core.enums import Channel
from workflows.business_days import is_supported_country


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    value = value.strip()
    if value not in _timezones():
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/London")
    return value


def check_country(value: str) -> str:
    """An ISO 3166 alpha-2 code the holidays package knows (business days need its calendar)."""
    code = value.strip().upper()
    if not is_supported_country(code):
        raise ValueError(f"{value!r} is not a supported ISO 3166 country code, such as GB or US")
    return code


def check_phone(value: str) -> str:
    """Normalise to E.164; the number must carry its country code (+...)."""
    raw = value.strip()
    if not raw.startswith("+"):
        raise ValueError("phone must be in E.164 form with its country code, e.g. +447700900123")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number in E.164 form") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def unique_channels(values: list[Channel]) -> list[Channel]:
    if len(set(values)) != len(values):
        raise ValueError("channels must not repeat")
    return values


def clean_tags(values: list[str]) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        tag = value.strip().lower()
        if not tag:
            raise ValueError("tags must not be empty")
        if len(tag) > 64:
            raise ValueError("a tag is at most 64 characters")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > 50:
        raise ValueError("at most 50 tags")
    return cleaned


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def single_line(value: str) -> str:
    """Names end up in headers (an email's From and Subject): a line break there would
    end the header and start another, so names are one line with no control characters."""
    if _CONTROL.search(value):
        raise ValueError("must be one line without control characters (no line breaks or tabs)")
    return value


Timezone = Annotated[str, AfterValidator(check_timezone)]
Country = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_country)]
Phone = Annotated[str, AfterValidator(check_phone)]
ChannelList = Annotated[list[Channel], AfterValidator(unique_channels)]
TagList = Annotated[list[str], AfterValidator(clean_tags)]
Name = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(single_line),
]
