from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.credentials import moved_fields, require_secret_for_new_destination
from api.deps import Actor
from api.email_configurations.schemas import (
    EmailConfigurationCreate,
    EmailConfigurationTestResult,
    EmailConfigurationUpdate,
)
from api.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from channels.smtp_probe import SmtpTarget, probe, test_message
from core.crypto import secret_box
from core.models import EmailConfiguration
from core.network import DestinationPolicy, DestinationRefused
from core.repositories.email_configurations import EmailConfigurationRepository
from core.settings import Settings

_PLAIN_FIELDS = ("name", "host", "port", "security", "username", "from_email", "from_name")
# Where the password goes: changing any of these needs the password again.
_DESTINATION_FIELDS = ("host", "port", "username")
# A host name is looked up for at most this long when a configuration is saved.
LOOKUP_TIMEOUT_SECONDS = 5.0


async def get_configuration(
    session: AsyncSession, actor: Actor, config_id: uuid.UUID
) -> EmailConfiguration:
    config = await EmailConfigurationRepository(session).get(actor.business_id, config_id)
    if config is None:
        raise NotFound("Email configuration not found")
    return config


async def list_configurations(
    session: AsyncSession, actor: Actor, limit: int, offset: int
) -> tuple[list[EmailConfiguration], int]:
    return await EmailConfigurationRepository(session).list(actor.business_id, limit, offset)


async def check_configuration_id(session: AsyncSession, actor: Actor, config_id: uuid.UUID) -> None:
    """422 naming the field unless the id is one of the caller's business's configurations
    (another business's answers the same as a missing one)."""
    if await EmailConfigurationRepository(session).get(actor.business_id, config_id) is None:
        raise Unprocessable(
            f"email_configuration_id: no email configuration {config_id} in this business"
        )


def _record(
    session: AsyncSession, actor: Actor, action: str, config: EmailConfiguration, **extra: Any
) -> None:
    # Names and places only: never the password, in any form.
    actor.record(
        session,
        action,
        "email_configuration",
        config.id,
        name=config.name,
        host=config.host,
        port=config.port,
        is_default=config.is_default,
        **extra,
    )


async def _check_name(
    session: AsyncSession, actor: Actor, name: str, config_id: uuid.UUID | None = None
) -> None:
    found = await EmailConfigurationRepository(session).by_name(actor.business_id, name)
    if found is not None and found.id != config_id:
        raise Conflict(f"An email configuration named {name!r} already exists")


def _check_clear_text_password(settings: Settings, security: str, has_password: bool) -> None:
    """In production, refuse a login whose password would cross the network unencrypted
    (elsewhere a password-protected relay on a trusted network stays allowed)."""
    if settings.is_production and security == "none" and has_password:
        raise Unprocessable(
            "security: 'none' with a password would send the password across the network "
            "in clear text; use 'starttls' or 'tls', or remove the password"
        )


async def _check_destination(settings: Settings, host: str, port: int) -> None:
    """422 unless the platform may connect there (public addresses, SMTP ports: see
    core/network.py); the worker checks again, after DNS resolution, at each send."""
    try:
        await DestinationPolicy.for_smtp(settings).check_saved(host, port, LOOKUP_TIMEOUT_SECONDS)
    except DestinationRefused as refused:
        raise Unprocessable(f"host/port: {refused}") from None
    except (OSError, TimeoutError):
        raise ServiceUnavailable(
            f"Could not look up {host} just now; try again in a moment"
        ) from None


async def create_configuration(
    session: AsyncSession, actor: Actor, settings: Settings, data: EmailConfigurationCreate
) -> EmailConfiguration:
    _check_clear_text_password(settings, data.security, bool(data.password))
    await _check_destination(settings, data.host, data.port)
    await _check_name(session, actor, data.name)
    repo = EmailConfigurationRepository(session)
    config = await repo.add(
        EmailConfiguration(
            business_id=actor.business_id,
            is_default=False,
            password_encrypted=(
                secret_box(settings).encrypt(data.password) if data.password else None
            ),
            **data.model_dump(include=set(_PLAIN_FIELDS)),
        )
    )
    # The first one is used at once (it becomes the default) unless the caller says not.
    if data.is_default or (
        data.is_default is None and await repo.get_default(actor.business_id) is None
    ):
        await repo.make_default(config)
    _record(session, actor, "email_configuration.created", config)
    await session.commit()
    return config


async def _check_new_destination(
    settings: Settings, config: EmailConfiguration, changes: dict[str, Any]
) -> None:
    """Where the changed configuration would send its password: never in clear text in
    production, only with the password given again when it moves, only to a public host."""
    _check_clear_text_password(
        settings,
        changes.get("security", config.security),
        bool(changes["password"])
        if "password" in changes
        else config.password_encrypted is not None,
    )
    moved = moved_fields(config, changes, _DESTINATION_FIELDS)
    require_secret_for_new_destination(
        secret="password",
        stored=config.password_encrypted is not None,
        given="password" in changes,
        moved=moved,
    )
    if {"host", "port"} & set(moved):
        await _check_destination(
            settings, changes.get("host", config.host), changes.get("port", config.port)
        )


async def update_configuration(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    config: EmailConfiguration,
    data: EmailConfigurationUpdate,
) -> EmailConfiguration:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "host", "port", "security", "from_email", "is_default"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null")
    await _check_new_destination(settings, config, changes)
    if "name" in changes:
        await _check_name(session, actor, changes["name"], config.id)
    if "password" in changes:
        password = changes.pop("password")
        config.password_encrypted = secret_box(settings).encrypt(password) if password else None
    wanted_default = changes.pop("is_default", None)
    for name, value in changes.items():
        setattr(config, name, value)
    repo = EmailConfigurationRepository(session)
    if wanted_default:
        await repo.make_default(config)
    elif wanted_default is False:
        config.is_default = False  # the business's email goes through the platform again
    _record(
        session,
        actor,
        "email_configuration.updated",
        config,
        fields=sorted(data.model_fields_set),
    )
    await session.commit()
    return config


async def delete_configuration(
    session: AsyncSession, actor: Actor, config: EmailConfiguration
) -> None:
    # Whatever names this server would silently switch to another one: refuse instead.
    reminders, identities = await EmailConfigurationRepository(session).users(config)
    users = [
        _count(number, noun)
        for number, noun in (
            (reminders, "scheduled or paused reminder"),
            (identities, "sender identity"),
        )
        if number
    ]
    if users:
        raise Conflict(
            f"Email configuration {config.name!r} is in use by {' and '.join(users)}; "
            "point them at another configuration (or none) first"
        )
    # A deleted default leaves none: email goes through the platform's SMTP settings,
    # never silently through another of the business's servers.
    _record(session, actor, "email_configuration.deleted", config)
    await EmailConfigurationRepository(session).delete(config)
    await session.commit()


def _count(number: int, noun: str) -> str:
    plural = noun.removesuffix("y") + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {noun if number == 1 else plural}"


async def test_configuration(
    session: AsyncSession, actor: Actor, settings: Settings, config: EmailConfiguration
) -> EmailConfigurationTestResult:
    """Send a test message to the caller with this configuration."""
    password = (
        secret_box(settings).decrypt(config.password_encrypted)
        if config.password_encrypted
        else None
    )
    target = SmtpTarget(
        host=config.host,
        port=config.port,
        security=config.security,
        username=config.username,
        password=password,
        from_email=config.from_email,
        from_name=config.from_name,
    )
    message = test_message(target, actor.user.email, config.name)
    result = await probe(
        target, message, settings.SMTP_TEST_TIMEOUT_SECONDS, DestinationPolicy.for_smtp(settings)
    )
    _record(
        session,
        actor,
        "email_configuration.tested",
        config,
        ok=result.ok,
        stage=result.stage,
    )
    await session.commit()
    return EmailConfigurationTestResult.model_validate(result, from_attributes=True)
