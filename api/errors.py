"""Errors raised below the routers carry their status; one handler turns them into JSON."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.crypto import SecretUnreadable
from core.security import PasswordHashingBusy

log = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    default_detail = "Bad request"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers
        super().__init__(self.detail)

    def content(self) -> dict[str, Any]:
        """The JSON body; subclasses add fields beside `detail`."""
        return {"detail": self.detail}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401
    default_detail = "Not authenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    default_detail = "Not allowed"


class NotFound(AppError):
    status_code = 404
    default_detail = "Not found"


class Conflict(AppError):
    status_code = 409
    default_detail = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    default_detail = "Request too large"


class Unprocessable(AppError):
    status_code = 422
    default_detail = "Unprocessable input"

    def __init__(self, detail: str | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.errors = errors

    def content(self) -> dict[str, Any]:
        return {**super().content(), **({"errors": self.errors} if self.errors else {})}


class BadGateway(AppError):
    status_code = 502
    default_detail = "An upstream provider refused the request"


class ServiceUnavailable(AppError):
    status_code = 503
    default_detail = "Service unavailable"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: `detail` says what is wrong; a 422 also lists `errors` by field."""

    detail: str
    errors: list[FieldError] | None = None


_ERROR_DESCRIPTIONS = {
    400: "Malformed request (e.g. JSON that does not parse)",
    401: "Not authenticated, or the token is invalid or expired",
    403: "Not allowed for this caller",
    404: "Not found (also another business's object, and a malformed id)",
    409: "Conflicts with the current state or an existing record",
    410: "No longer works (a link used, withdrawn or expired)",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input; `errors` names the fields",
    429: "Too many requests; `Retry-After` says when to try again",
    502: "A provider (SMTP, Twilio) refused the message; `detail` says why",
    503: "A service it needs (database or Temporal) is unavailable, or too many passwords "
    "are being checked at once; `Retry-After` may say when to try again",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these error statuses, all with the `ErrorBody` shape (it also
    replaces FastAPI's default 422, whose `detail` is a list, with what the handler sends)."""
    return {code: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


# What any route behind a bearer token can answer besides its own errors: bad input,
# no or bad token, the per-user rate limit, and the database being down.
AUTHENTICATED_ERRORS = (400, 401, 422, 429, 503)
# ... and behind `CurrentActor` (a caller with no business gets 404).
ACTOR_ERRORS = (*AUTHENTICATED_ERRORS, 404)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _clean_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never echo the input back: it may hold a password.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in errors
    ]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.content(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "Malformed JSON in request body"}, status_code=400)
    detail = "; ".join(f"{_location(e.get('loc', ()))}: {e.get('msg')}" for e in errors)
    return JSONResponse(
        {"detail": detail or "Invalid input", "errors": _clean_errors(errors)}, status_code=422
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Services check uniqueness first; this is the safety net for a concurrent insert.
    log.info("integrity error: %s", exc)
    return JSONResponse({"detail": "Conflicts with an existing record"}, status_code=409)


async def _data_error(_: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot store (a NUL character in text, for one) is bad input.
    log.info("data error: %s", exc)
    return JSONResponse(
        {"detail": "Input holds a value that cannot be stored (e.g. a NUL character)"},
        status_code=422,
    )


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return JSONResponse({"detail": "Database unavailable, try again shortly"}, status_code=503)


async def _secret_unreadable(_: Request, exc: Exception) -> JSONResponse:
    # An operator dropped a key from ENCRYPTION_KEYS before `reminders rotate-keys`.
    log.error("a stored secret cannot be decrypted: %s", exc)
    return JSONResponse(
        {
            "detail": "A stored password or token cannot be decrypted with the current "
            "ENCRYPTION_KEYS; enter it again (operators: see `reminders rotate-keys`)"
        },
        status_code=409,
    )


async def _password_hashing_busy(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PasswordHashingBusy)
    log.warning("password hashing queue full: answered 503")
    return JSONResponse(
        {"detail": exc.detail},
        status_code=exc.status_code,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(SecretUnreadable, _secret_unreadable)
    app.add_exception_handler(PasswordHashingBusy, _password_hashing_busy)
    app.add_exception_handler(Exception, _unexpected)
