"""PingWorkflow: an operator's proof that a worker polls the task queue and reaches the database.

temporal workflow execute --type PingWorkflow --task-queue reminders --input '{}'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import CHECK_DATABASE


@dataclass
class PingInput:
    message: str = "ping"


@dataclass
class PingResult:
    message: str
    database: str
    dialect: str
    worker: str


@dataclass
class DatabaseCheck:
    """What the `check_database` activity answers (defined here so the workflow module
    imports no database code)."""

    database: str
    dialect: str
    worker: str


@workflow.defn
class PingWorkflow:
    @workflow.run
    async def run(self, data: PingInput) -> PingResult:
        check = await workflow.execute_activity(
            CHECK_DATABASE,
            result_type=DatabaseCheck,
            start_to_close_timeout=timedelta(seconds=10),
            # A diagnostic should answer quickly: a few tries, then fail visibly.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=5),
                maximum_attempts=3,
            ),
        )
        return PingResult(
            message=data.message,
            database=check.database,
            dialect=check.dialect,
            worker=check.worker,
        )
