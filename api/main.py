"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.admin.router import router as admin_router
from api.api_keys.router import router as api_keys_router
from api.auth.router import router as auth_router
from api.bounces.router import router as bounces_router
from api.business.router import router as business_router
from api.cache import build_cache
from api.client_fields.router import router as client_fields_router
from api.clients.router import router as clients_router
from api.dashboard.router import router as dashboard_router
from api.done.router import body_limit as done_body_limit
from api.done.router import router as done_router
from api.email_configurations.router import router as email_configurations_router
from api.errors import install_error_handlers
from api.events.router import router as events_router
from api.health import router as health_router
from api.invitations.router import public_router as invitations_public_router
from api.invitations.router import router as invitations_router
from api.metrics import Metrics, MetricsMiddleware
from api.metrics import router as metrics_router
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, SecurityMiddleware
from api.notifications.router import router as notifications_router
from api.reminder_clients.router import router as reminder_clients_router
from api.reminders.router import router as reminders_router
from api.replies.router import router as replies_router
from api.sender_identities.router import router as sender_identities_router
from api.templates.router import router as templates_router
from api.throttle import Throttle
from api.twilio_credentials.router import router as twilio_credentials_router
from api.unsubscribe.router import router as unsubscribe_router
from api.usage.router import router as usage_router
from api.users.router import router as users_router
from api.web import install_web
from api.webhook_endpoints.router import router as webhook_endpoints_router
from api.webhooks.router import router as webhooks_router
from core.db import create_sessionmaker, engine_from_settings
from core.done_links import DONE_PATH
from core.security import PasswordHasher
from core.settings import Settings, get_settings
from core.temporal import TemporalConnector

API_PREFIX = "/api/v1"


def _redis_client(settings: Settings) -> Any:
    if not settings.REDIS_URL:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3)


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for domain in (
        auth_router,
        users_router,
        business_router,
        invitations_router,
        invitations_public_router,
        api_keys_router,
        client_fields_router,
        clients_router,
        sender_identities_router,
        email_configurations_router,
        twilio_credentials_router,
        templates_router,
        reminders_router,
        reminder_clients_router,
        notifications_router,
        replies_router,
        dashboard_router,
        usage_router,
        events_router,
        webhook_endpoints_router,
        admin_router,
        webhooks_router,
        bounces_router,
        unsubscribe_router,
        done_router,
    ):
        router.include_router(domain)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production_safety()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.engine.dispose()
        if app.state.redis is not None:
            await app.state.redis.aclose()
        await app.state.throttle.close()
        app.state.passwords.close()

    app = FastAPI(
        title="Reminders",
        version="0.1.0",
        description="Durable client reminders by email, SMS and WhatsApp.",
        lifespan=lifespan,
        debug=settings.DEBUG,
    )
    app.state.settings = settings
    app.state.engine = engine_from_settings(settings)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.temporal = TemporalConnector(settings)
    app.state.redis = _redis_client(settings)
    # Redis when there is a client (shared by every API process), else in-process.
    app.state.cache = build_cache(app.state.redis)
    # Sign-in and per-user API limits: in Redis when REDIS_URL is set, else in-process.
    app.state.throttle = Throttle(settings)
    # bcrypt on a few threads of its own, with a bounded queue: never on the event loop.
    app.state.passwords = PasswordHasher(
        settings.PASSWORD_HASH_THREADS, settings.PASSWORD_HASH_MAX_WAITING
    )

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(api_router())
    install_web(app)

    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.MAX_REQUEST_BODY_BYTES,
        # A client's done page uploads files: room for all of them, on that path alone.
        limits={DONE_PATH: done_body_limit(settings)},
    )
    # Outside the body limit so its 413s are counted too.
    app.state.metrics = Metrics(settings.METRICS_DATABASE_REFRESH_SECONDS)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(
        SecurityMiddleware,
        allowed_hosts=settings.allowed_hosts,
        https_only=settings.https_only,
        hsts_seconds=settings.HSTS_SECONDS,
    )
    app.add_middleware(RequestIdMiddleware)
    return app
