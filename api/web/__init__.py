"""The web dashboard at /admin (server-rendered; its only scripts are served from here)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web.deps import LoginRequired, WebError
from api.web.documents import router as documents_router
from api.web.invitations import router as invitations_router
from api.web.render import STATIC_DIR
from api.web.replies import router as replies_router
from api.web.router import not_signed_in, router, web_error
from api.web.signin import router as signin_router
from api.web.webhooks import router as webhooks_router


def install_web(app: FastAPI) -> None:
    app.include_router(signin_router)
    app.include_router(invitations_router)
    app.include_router(router)
    app.include_router(documents_router)
    app.include_router(replies_router)
    app.include_router(webhooks_router)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
    app.add_exception_handler(LoginRequired, not_signed_in)
    app.add_exception_handler(WebError, web_error)
