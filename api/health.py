"""Liveness and readiness: readiness reports the database, Temporal and Redis separately."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _check(coro: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout=CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Exception as exc:  # report any failure as data, never as a 500
        return {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
    return {"ok": True}


async def _database(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis(request: Request) -> None:
    redis = request.app.state.redis
    if redis is not None:
        await redis.ping()


@router.get(
    "/readyz",
    responses={503: {"description": "Degraded: a check failed (same body, its `error` says why)"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: database, Temporal and Redis each reported; 503 when any is down."""
    database, temporal, redis = await asyncio.gather(
        _check(_database(request)),
        _check(request.app.state.temporal.check(timeout=CHECK_TIMEOUT - 0.5)),
        _check(_redis(request)),
    )
    if request.app.state.redis is None:
        redis["backend"] = "in-process (REDIS_URL unset)"
    checks = {"database": database, "temporal": temporal, "redis": redis}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
