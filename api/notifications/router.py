"""Delivery history across a business's reminders (filled in with issue 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/notifications", tags=["notifications"])
