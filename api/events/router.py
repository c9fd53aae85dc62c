"""The audit log: a business's own events for owners, every event for superusers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["events"])
