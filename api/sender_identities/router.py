from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/sender-identities", tags=["sender-identities"])
