"""Dashboard figures for a business (filled in with issue 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
