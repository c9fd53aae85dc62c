"""Recorded ReminderWorkflow histories replay against today's workflow code.

The histories in histories/ stand for reminders already running: a change to the workflow
that would break them (a command added, removed or reordered without `workflow.patched`)
fails here, before it reaches a worker. Record them with
`.venv/bin/python -m tests.workflows.record_histories`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import workflows
from workflows.contracts import ReminderInput, ReminderStatus
from workflows.reminder import ReminderWorkflow

# The sandbox imports this module again for the changed workflow below, the way a worker
# imports a workflow's module; pytest and the builders are shared with the host rather than
# imported there.
with workflow.unsafe.imports_passed_through():
    import pytest

    from tests.builders.delivery import HISTORIES, load_history


def history_files() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "history_path" in metafunc.fixturenames:
        paths = history_files()
        metafunc.parametrize("history_path", paths, ids=[path.stem for path in paths])


async def replay(history: WorkflowHistory, workflow_class: type = ReminderWorkflow) -> None:
    replayer = Replayer(workflows=[workflow_class], workflow_runner=workflows.workflow_runner())
    await replayer.replay_workflow(history)  # raises on non-determinism


def test_every_scenario_has_a_recorded_history() -> None:
    from tests.workflows.record_histories import SCENARIOS

    recorded = {path.stem for path in history_files()}
    expected = set(SCENARIOS) - {"continue_as_new"}
    expected |= {"continue_as_new_first_run", "continue_as_new_last_run"}
    assert recorded == expected


async def test_recorded_history_replays_on_current_code(history_path: Path) -> None:
    await replay(load_history(history_path))


@workflow.defn(name="ReminderWorkflow")
class ReminderWorkflowWithAnExtraTimer(ReminderWorkflow):
    """What an unguarded change looks like: a timer before the first command."""

    @workflow.run
    async def run(self, data: ReminderInput) -> ReminderStatus:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(data)


async def test_changed_workflow_fails_to_replay_a_recorded_history() -> None:
    history = load_history(HISTORIES / "once_fired.json")
    with pytest.raises(workflow.NondeterminismError, match="(?i)timer"):
        await replay(history, ReminderWorkflowWithAnExtraTimer)
