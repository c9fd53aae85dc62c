"""Enumerations shared by the API, the worker and the database."""

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    member = "member"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"
