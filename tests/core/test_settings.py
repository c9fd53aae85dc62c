"""Settings: sandbox defaults for development, refusal of unsafe production settings."""

from __future__ import annotations

import pytest

from api.main import create_app
from core.settings import Settings, UnsafeSettingsError

SAFE_PRODUCTION = {
    "ENV": "production",
    "SECRET_KEY": "s" * 48,
    "DATABASE_URL": "postgresql+psycopg://app@db:5432/reminders",
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "SMS_BACKEND": "twilio",
    "WHATSAPP_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "PUBLIC_BASE_URL": "https://reminders.example.com",
    "ENCRYPTION_KEYS": "ZmVybmV0LWtleS1mb3ItcHJvZHVjdGlvbi10ZXN0cyE=",
    "METRICS_TOKEN": "m" * 32,
    "FORWARDED_ALLOW_IPS": "10.0.0.2",
}


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_development_without_credentials_uses_sandbox_channels() -> None:
    settings = make()
    assert settings.EMAIL_BACKEND == "sandbox"
    assert settings.SMS_BACKEND == "sandbox"
    assert settings.WHATSAPP_BACKEND == "sandbox"
    assert settings.DATABASE_URL.startswith("sqlite+aiosqlite")
    settings.check_production_safety()  # development: nothing refused


def test_credentials_switch_channels_to_real_providers() -> None:
    settings = make(SMTP_HOST="mail.local", TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="x")
    assert settings.EMAIL_BACKEND == "smtp"
    assert settings.SMS_BACKEND == "twilio"


def test_safe_production_settings_start() -> None:
    make(**SAFE_PRODUCTION).check_production_safety()
    # Implicit TLS (SMTPS on 465) is as safe as STARTTLS.
    make(**{**SAFE_PRODUCTION, "SMTP_STARTTLS": False, "SMTP_PORT": 465}).check_production_safety()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "dev-insecure-secret-key-change-me"}, "SECRET_KEY"),
        ({"DATABASE_URL": "sqlite+aiosqlite:///./x.db"}, "DATABASE_URL"),
        ({"EMAIL_BACKEND": "sandbox"}, "EMAIL_BACKEND"),
        ({"SMS_BACKEND": "sandbox"}, "SMS_BACKEND"),
        ({"WHATSAPP_BACKEND": "sandbox"}, "WHATSAPP_BACKEND"),
        ({"DEBUG": True}, "DEBUG"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"FORCE_HTTPS": False}, "FORCE_HTTPS"),
        ({"SMTP_HOST": None}, "SMTP_HOST"),
        ({"SMTP_STARTTLS": False}, "SMTP_STARTTLS"),
        ({"TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN"),
        ({"PUBLIC_BASE_URL": "http://reminders.example.com"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "https://127.0.0.1:8000"}, "PUBLIC_BASE_URL"),
        ({"ENCRYPTION_KEYS": None}, "ENCRYPTION_KEYS"),
        ({"ENCRYPTION_KEYS": "not-a-fernet-key"}, "ENCRYPTION_KEYS"),
        ({"ALLOW_PRIVATE_DESTINATIONS": True}, "ALLOW_PRIVATE_DESTINATIONS"),
        ({"FORWARDED_ALLOW_IPS": "*"}, "FORWARDED_ALLOW_IPS"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.2, *"}, "FORWARDED_ALLOW_IPS"),
        ({"METRICS_TOKEN": None}, "METRICS_TOKEN"),
    ],
)
def test_production_refuses_unsafe_setting_naming_it(override: dict, named: str) -> None:
    settings = make(**{**SAFE_PRODUCTION, **override})
    with pytest.raises(UnsafeSettingsError, match=named):
        settings.check_production_safety()
    with pytest.raises(UnsafeSettingsError, match=named):
        create_app(settings)


def test_cors_origins_read_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    assert Settings(_env_file=None).CORS_ORIGINS == [  # type: ignore[call-arg]
        "https://a.example.com",
        "https://b.example.com",
    ]
