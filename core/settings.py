"""One settings class, read once from the environment (or `.env`) through `get_settings()`."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.keys import invalid_keys


def parse_ports(text: str) -> frozenset[int] | None:
    """ "25,465,587" as a set of ports; "*" (any port) as None."""
    if text.strip() == "*":
        return None
    ports = frozenset(int(part) for part in text.split(",") if part.strip())
    if not ports or not all(0 < port < 65536 for port in ports):
        raise ValueError("expected comma-separated ports such as 25,465,587, or *")
    return ports


DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./.data/reminders.db"
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    testing = "testing"
    production = "production"


class EmailBackend(StrEnum):
    smtp = "smtp"
    sandbox = "sandbox"


class MessagingBackend(StrEnum):
    twilio = "twilio"
    sandbox = "sandbox"


class UnsafeSettingsError(ValueError):
    """Raised at start-up when production settings are unsafe; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    ENV: Environment = Environment.development
    DEBUG: bool = False
    SECRET_KEY: str = DEFAULT_SECRET_KEY
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=30, ge=1, le=365)
    # How long a password-reset link a superuser hands out stays valid (it works once).
    PASSWORD_RESET_HOURS: int = Field(default=24, ge=1, le=24 * 14)
    # "Forgot password" requests (POST /auth/forgot-password) per client address and per
    # email address, in the `limits` notation; past either, 429.
    FORGOT_PASSWORD_PER_IP: str = "20/hour"
    FORGOT_PASSWORD_PER_EMAIL: str = "3/hour"
    # Staff invitations: how long an emailed link works; how many wait per business.
    INVITATION_DAYS: int = Field(default=7, ge=1, le=60)
    INVITATIONS_MAX_PENDING: int = Field(default=50, ge=1, le=1000)

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    DATABASE_ECHO: bool = False
    REDIS_URL: str | None = None

    TEMPORAL_ADDRESS: str = "127.0.0.1:7233"
    TEMPORAL_NAMESPACE: str = "default"
    TEMPORAL_TASK_QUEUE: str = "reminders"
    TEMPORAL_API_KEY: str | None = None
    TEMPORAL_TLS_CERT: str | None = None
    TEMPORAL_TLS_KEY: str | None = None
    TEMPORAL_UI_URL: str = "http://127.0.0.1:8233"
    # How long a sign-in to the web dashboard at /admin lasts.
    WEB_SESSION_HOURS: int = Field(default=12, ge=1, le=24 * 30)

    EMAIL_BACKEND: EmailBackend | None = None
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS: bool = True
    # Implicit TLS (SMTPS) from the first byte; unset means "when SMTP_PORT is 465".
    SMTP_IMPLICIT_TLS: bool | None = None
    SMTP_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    # POST /email-configurations/{id}/test gives up after this long, all stages together.
    SMTP_TEST_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)
    # Where a tenant may make the platform connect (a business's own SMTP server): public
    # internet addresses only, unless this is on (development and tests, whose servers
    # are on loopback; production refuses it). Checked at save and again at connect time.
    ALLOW_PRIVATE_DESTINATIONS: bool = False
    # The ports a business's own SMTP server may use (comma-separated), or "*" for any.
    TENANT_SMTP_PORTS: str = "25,465,587,2525"
    # Outgoing webhooks (api/webhook_endpoints): each POST gives up after this long, and an
    # endpoint is disabled after this many deliveries in a row failed for good (each one
    # retried for a day first).
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=20)
    WEBHOOK_DISABLE_AFTER_FAILURES: int = Field(default=20, ge=1, le=10_000)
    # Webhook POSTs one worker has in flight at once: the rest of its activity slots stay
    # for sending messages, however slow a business's endpoints are.
    WEBHOOK_MAX_CONCURRENT: int = Field(default=10, ge=1, le=100)
    # The From address when a business has no default email sender identity.
    DEFAULT_FROM_EMAIL: str | None = None
    # The secret an inbound-mail service presents when it posts bounces (RFC 3464 reports)
    # to POST /api/v1/webhooks/email/bounce (X-Bounce-Secret or HTTP basic auth's
    # password); unset, that route answers 404 and reads nothing.
    BOUNCE_WEBHOOK_SECRET: str | None = None
    SMS_BACKEND: MessagingBackend | None = None
    WHATSAPP_BACKEND: MessagingBackend | None = None
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_API_BASE_URL: str = "https://api.twilio.com"
    TWILIO_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0)
    # Senders used when a business has no default SMS / WhatsApp sender identity.
    TWILIO_FROM_NUMBER: str | None = None
    TWILIO_MESSAGING_SERVICE_SID: str | None = None
    TWILIO_WHATSAPP_FROM: str | None = None

    # Sends per second per channel, shared by every worker (through Redis when REDIS_URL
    # is set); 0 means no limit. A send waits at most SEND_RATE_MAX_WAIT_SECONDS for its
    # slot in the worker, else it is retried later by Temporal without counting as failed.
    EMAIL_RATE_PER_SECOND: float = Field(default=20.0, ge=0)
    SMS_RATE_PER_SECOND: float = Field(default=10.0, ge=0)
    WHATSAPP_RATE_PER_SECOND: float = Field(default=20.0, ge=0)
    SEND_RATE_MAX_WAIT_SECONDS: float = Field(default=20.0, gt=0)

    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    # How long a client's `{{ done_url }}` link works after the message that carries it.
    DONE_LINK_DAYS: int = Field(default=60, ge=1, le=366)
    # What a client may attach when they confirm through that link (api/done), kept under
    # UPLOAD_DIR (never served publicly: staff download it through the API).
    DONE_UPLOAD_MAX_FILES: int = Field(default=5, ge=1, le=50)
    DONE_UPLOAD_MAX_FILE_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    UPLOAD_DIR: str = ".data/uploads"
    ENCRYPTION_KEYS: str | None = None
    ADMIN_EMAIL: str | None = None
    ADMIN_PASSWORD: str | None = None

    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names the API answers to (comma-separated; a leading "*." allows subdomains).
    # Unset: any host in development, PUBLIC_BASE_URL's host in production.
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Redirect plain http to https and send HSTS. Unset: on in production only.
    FORCE_HTTPS: bool | None = None
    HSTS_SECONDS: int = Field(default=31_536_000, ge=0, le=2 * 31_536_000)
    # Proxies whose X-Forwarded-Proto/For uvicorn believes (comma-separated IPs or "*").
    FORWARDED_ALLOW_IPS: str = "127.0.0.1"
    # API processes `reminders api` runs (uvicorn workers on one port). Above 1, REDIS_URL
    # should be set: without it each process keeps its own rate limits and sign-in throttles.
    API_WORKERS: int = Field(default=1, ge=1, le=64)
    # How long `reminders api` keeps an idle keep-alive connection open. Longer than a load
    # balancer's idle timeout (commonly 60 s), so a request is never sent on a connection
    # the API is closing at that moment (the client sees "disconnected without a response").
    API_KEEP_ALIVE_SECONDS: int = Field(default=75, ge=1, le=3600)
    MAX_REQUEST_BODY_BYTES: int = Field(default=1_000_000, ge=1024)
    MAX_IMPORT_ROWS: int = Field(default=5000, ge=1)
    LATE_GRACE_PERIOD_SECONDS: int = Field(default=3600, ge=0)
    # What one request may ask for: the clients a tag reminder reaches when it is created,
    # and the shortest gap between two occurrences of a recurring reminder.
    REMINDER_MAX_CLIENTS: int = Field(default=1000, ge=1, le=1_000_000)
    MIN_RECURRENCE_INTERVAL_MINUTES: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Sender identities prove their address or number with a one-time code
    # (POST /sender-identities/{id}/verify); this is how long a code stays valid.
    VERIFICATION_CODE_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    # Codes the platform sends for free, so bounded by who receives them as well as by
    # identity: to one address or number (whichever business asks) an hour and a day, and
    # for one business a day. Each counts in the business's usage.
    VERIFICATION_CODES_PER_DESTINATION_HOURLY: int = Field(default=5, ge=1, le=1000)
    VERIFICATION_CODES_PER_DESTINATION_DAILY: int = Field(default=10, ge=1, le=10_000)
    VERIFICATION_CODES_PER_BUSINESS_DAILY: int = Field(default=20, ge=1, le=100_000)
    # Send only through verified sender identities (an unverified one falls back to the
    # platform sender: DEFAULT_FROM_EMAIL / TWILIO_*). Unset: on in production only.
    REQUIRE_VERIFIED_SENDERS: bool | None = None

    # Sign-in throttling (POST /api/v1/auth/token and /admin/login), shared through Redis
    # when REDIS_URL is set: once an account has this many failed attempts, or an address
    # this many, within the window, further attempts get 429 before any password check.
    LOGIN_MAX_FAILURES_PER_ACCOUNT: int = Field(default=5, ge=1, le=1000)
    LOGIN_MAX_FAILURES_PER_IP: int = Field(default=30, ge=1, le=100_000)
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=900, ge=1, le=24 * 3600)
    # Authenticated API requests per user, in the `limits` notation ("600/minute",
    # "10 per second", "1000/hour"); shared through Redis when REDIS_URL is set.
    API_RATE_LIMIT: str = "600/minute"
    # Registrations (POST /api/v1/auth/register) per client address, counted whatever their
    # outcome, in the same notation and shared the same way; past it 429.
    REGISTRATIONS_PER_IP: str = "10/hour"
    # bcrypt (0.25 s of CPU a hash) runs on this many threads of its own, off the event
    # loop; a request needing one when PASSWORD_HASH_MAX_WAITING more already wait gets 503.
    PASSWORD_HASH_THREADS: int = Field(default=2, ge=1, le=64)
    PASSWORD_HASH_MAX_WAITING: int = Field(default=32, ge=0, le=10_000)

    # When set, `GET /metrics` wants `Authorization: Bearer <METRICS_TOKEN>` (production
    # refuses to start without it).
    METRICS_TOKEN: str | None = None
    # `GET /metrics` counts rows by state at most this often; scrapes in between (and at
    # the same moment) share the last count, so scraping costs the database nothing more.
    METRICS_DATABASE_REFRESH_SECONDS: float = Field(default=15.0, ge=0, le=3600)
    # host:port where the worker serves the Temporal SDK's Prometheus metrics; a bare port
    # means 127.0.0.1:<port>; unset means off. Containers bind 0.0.0.0:<port>.
    WORKER_METRICS_ADDRESS: str | None = None
    # Reminders whose state the worker keeps in memory between their workflow tasks (the
    # SDK's sticky cache). One that is not in it is rebuilt from its history when it next
    # wakes or is queried or signalled: about 10 ms more. Each costs ~85 KB; a burst larger
    # than the cache drains slower (bench.idle and bench.fire --max-cached: bench/README.md).
    WORKER_MAX_CACHED_WORKFLOWS: int = Field(default=1000, ge=1, le=100_000)
    # How long a reminder's workflow task waits for the worker that has it cached before
    # the server hands it to any worker, which rebuilds it from its history. In a burst,
    # tasks queue longer than the SDK's 10 s and each rebuild cost as much again: a burst
    # of 1000 took a third less CPU and drained 18 % sooner at 30 s. The cost: the tasks
    # waiting on a worker that died are picked up this long after it died.
    WORKER_STICKY_QUEUE_TIMEOUT_SECONDS: float = Field(default=30.0, ge=1, le=600)
    # json | text; unset: json in production, text otherwise.
    LOG_FORMAT: Literal["json", "text"] | None = None
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = (
        "INFO"
    )

    @field_validator("CORS_ORIGINS", "ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("TENANT_SMTP_PORTS")
    @classmethod
    def _tenant_ports(cls, value: str) -> str:
        parse_ports(value)  # a ValueError says what is wrong
        return value

    @field_validator(
        "API_RATE_LIMIT",
        "REGISTRATIONS_PER_IP",
        "FORGOT_PASSWORD_PER_IP",
        "FORGOT_PASSWORD_PER_EMAIL",
    )
    @classmethod
    def _rate_limit(cls, value: str, info: ValidationInfo) -> str:
        from limits import parse

        try:
            amount = parse(value).amount
        except ValueError:
            amount = 0
        if amount < 1:
            raise ValueError(f"{info.field_name} must read like '600/minute' or '10 per second'")
        return value

    @field_validator("WORKER_METRICS_ADDRESS", mode="before")
    @classmethod
    def _metrics_address(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        if text.isdigit():
            text = f"127.0.0.1:{text}"
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                "WORKER_METRICS_ADDRESS must be host:port or a port, e.g. 127.0.0.1:9464"
            )
        return text

    @model_validator(mode="after")
    def _default_backends(self) -> Settings:
        # Without credentials a channel falls back to the sandbox (nothing leaves the
        # machine); production refuses that in `check_production_safety`.
        if self.EMAIL_BACKEND is None:
            self.EMAIL_BACKEND = EmailBackend.smtp if self.SMTP_HOST else EmailBackend.sandbox
        has_twilio = bool(self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN)
        default_messaging = MessagingBackend.twilio if has_twilio else MessagingBackend.sandbox
        if self.SMS_BACKEND is None:
            self.SMS_BACKEND = default_messaging
        if self.WHATSAPP_BACKEND is None:
            self.WHATSAPP_BACKEND = default_messaging
        return self

    @property
    def is_production(self) -> bool:
        return self.ENV == Environment.production

    @property
    def https_only(self) -> bool:
        return self.is_production if self.FORCE_HTTPS is None else self.FORCE_HTTPS

    @property
    def allowed_hosts(self) -> list[str]:
        """The hosts to answer; empty means any."""
        if self.ALLOWED_HOSTS:
            return [] if "*" in self.ALLOWED_HOSTS else [h.lower() for h in self.ALLOWED_HOSTS]
        if self.is_production:
            host = urlsplit(self.PUBLIC_BASE_URL).hostname
            return [host] if host else []
        return []

    @property
    def require_verified_senders(self) -> bool:
        if self.REQUIRE_VERIFIED_SENDERS is None:
            return self.is_production
        return self.REQUIRE_VERIFIED_SENDERS

    @property
    def platform_senders(self) -> frozenset[str]:
        """The platform's own shared numbers and messaging service: no business may claim
        them (a STOP sent to them opts the sender out in every business)."""
        senders = (
            self.TWILIO_FROM_NUMBER,
            self.TWILIO_WHATSAPP_FROM,
            self.TWILIO_MESSAGING_SERVICE_SID,
        )
        return frozenset(s.strip().removeprefix("whatsapp:") for s in senders if s and s.strip())

    @property
    def smtp_implicit_tls(self) -> bool:
        if self.SMTP_IMPLICIT_TLS is None:
            return self.SMTP_PORT == 465
        return self.SMTP_IMPLICIT_TLS

    def rate_per_second(self, channel: str) -> float:
        return {
            "email": self.EMAIL_RATE_PER_SECOND,
            "sms": self.SMS_RATE_PER_SECOND,
            "whatsapp": self.WHATSAPP_RATE_PER_SECOND,
        }[channel]

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    def production_problems(self) -> list[str]:
        """Every unsafe setting for production, each naming the setting to change."""
        problems: list[str] = []
        if self.SECRET_KEY == DEFAULT_SECRET_KEY or len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"SECRET_KEY is the default or shorter than {MIN_SECRET_KEY_LENGTH} characters"
            )
        if self.DEBUG:
            problems.append("DEBUG must be off")
        if self.API_WORKERS > 1 and not self.REDIS_URL:
            problems.append(
                "API_WORKERS is above 1 without REDIS_URL: each process would keep its own "
                "rate limits and sign-in throttles; set REDIS_URL"
            )
        if self.is_sqlite:
            problems.append("DATABASE_URL points at SQLite; use postgresql+psycopg://")
        if self.EMAIL_BACKEND == EmailBackend.sandbox:
            problems.append("EMAIL_BACKEND is sandbox; set EMAIL_BACKEND=smtp and SMTP_HOST")
        if self.SMS_BACKEND == MessagingBackend.sandbox:
            problems.append("SMS_BACKEND is sandbox; set SMS_BACKEND=twilio and TWILIO_*")
        if self.WHATSAPP_BACKEND == MessagingBackend.sandbox:
            problems.append("WHATSAPP_BACKEND is sandbox; set WHATSAPP_BACKEND=twilio and TWILIO_*")
        if self.EMAIL_BACKEND == EmailBackend.smtp:
            if not self.SMTP_HOST:
                problems.append("EMAIL_BACKEND is smtp but SMTP_HOST is not set")
            if not (self.SMTP_STARTTLS or self.smtp_implicit_tls):
                problems.append(
                    "SMTP_STARTTLS is off and SMTP_IMPLICIT_TLS is not on: mail would go in clear"
                )
        uses_twilio = MessagingBackend.twilio in (self.SMS_BACKEND, self.WHATSAPP_BACKEND)
        if uses_twilio and not (self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN):
            problems.append(
                "SMS/WhatsApp use twilio but TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN unset"
            )
        if not self.PUBLIC_BASE_URL.startswith("https://") or self.PUBLIC_BASE_URL.startswith(
            ("https://127.", "https://localhost")
        ):
            problems.append(
                "PUBLIC_BASE_URL must be the public https:// URL (Twilio signs its callbacks "
                "against it; unsubscribe links point at it)"
            )
        if "*" in self.CORS_ORIGINS:
            problems.append("CORS_ORIGINS must not be '*' (credentials are allowed)")
        if "*" in self.ALLOWED_HOSTS:
            problems.append("ALLOWED_HOSTS must name the hosts, not '*'")
        if self.FORCE_HTTPS is False:
            problems.append("FORCE_HTTPS must not be off")
        if self.ALLOW_PRIVATE_DESTINATIONS:
            problems.append(
                "ALLOW_PRIVATE_DESTINATIONS must be off (tenants could reach the platform's "
                "own network through their SMTP settings or webhook endpoints)"
            )
        if "*" in (ip.strip() for ip in self.FORWARDED_ALLOW_IPS.split(",")):
            problems.append(
                "FORWARDED_ALLOW_IPS must name the proxies, not '*' (anyone could set "
                "X-Forwarded-For and dodge the per-address sign-in limits)"
            )
        if self.BOUNCE_WEBHOOK_SECRET and len(self.BOUNCE_WEBHOOK_SECRET) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"BOUNCE_WEBHOOK_SECRET is shorter than {MIN_SECRET_KEY_LENGTH} characters"
            )
        if not self.METRICS_TOKEN:
            problems.append("METRICS_TOKEN is not set (GET /metrics would be open to anyone)")
        if not (self.ENCRYPTION_KEYS or "").strip():
            problems.append(
                "ENCRYPTION_KEYS is not set (Fernet keys, comma-separated; they encrypt the "
                "stored SMTP passwords)"
            )
        else:
            bad = invalid_keys(self.ENCRYPTION_KEYS)
            if bad:
                problems.append(
                    f"ENCRYPTION_KEYS entry {', '.join(map(str, bad))} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                )
        return problems

    def check_production_safety(self) -> None:
        if not self.is_production:
            return
        problems = self.production_problems()
        if problems:
            raise UnsafeSettingsError(
                "Refusing to start with ENV=production: " + "; ".join(problems) + "."
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
