from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from api.auth.schemas import check_password
from api.schemas import InputModel
from api.validation import Name


class UserUpdate(InputModel):
    full_name: Name | None = None
    password: str | None = Field(default=None, max_length=200)
    current_password: str | None = Field(default=None, max_length=200)

    @field_validator("password")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        return None if value is None else check_password(value)

    @model_validator(mode="after")
    def _needs_current(self) -> UserUpdate:
        if self.password is not None and not self.current_password:
            raise ValueError("current_password is required to change the password")
        return self
