"""Per-request context (request id) readable from anywhere below the API layer."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
