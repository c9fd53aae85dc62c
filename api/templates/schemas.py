from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from api.schemas import InputModel, ReadModel
from api.validation import Name
from core.enums import Channel

MAX_BODY_CHARS = 50_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Body = Annotated[str, Field(max_length=MAX_BODY_CHARS), AfterValidator(_not_blank)]
Subject = Annotated[str, Field(max_length=500)]


class _TemplateInput(InputModel):
    # Whitespace in a message is content, and stripping it would shift the line numbers
    # that template errors report; names still strip through their own type.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class TemplateCreate(_TemplateInput):
    name: Name
    subject: Subject | None = None
    body: Body
    channel: Channel | None = None


class TemplateUpdate(_TemplateInput):
    name: Name | None = None
    subject: Subject | None = None
    body: Body | None = None
    channel: Channel | None = None


class TemplateRead(ReadModel):
    id: uuid.UUID
    name: str
    subject: str | None
    body: str
    channel: Channel | None
    created_at: datetime
    updated_at: datetime


class PreviewRequest(_TemplateInput):
    """A saved template (`template_id`) or an inline `body` and optional `subject`."""

    template_id: uuid.UUID | None = None
    subject: Subject | None = None
    body: Body | None = None
    client_id: uuid.UUID | None = None
    variables: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> PreviewRequest:
        if self.template_id is not None and (self.body is not None or self.subject is not None):
            raise ValueError("give either template_id or an inline subject and body, not both")
        if self.template_id is None and self.body is None:
            raise ValueError("give template_id or body")
        return self


class PreviewResponse(ReadModel):
    subject: str | None
    body: str
