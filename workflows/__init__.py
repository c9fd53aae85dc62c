"""Workflows: deterministic code only; each module holds one workflow and its dataclasses."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.diagnostics import PingWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

# Everything the worker registers.
WORKFLOWS: list[type] = [ReminderWorkflow, PingWorkflow, WebhookDeliveryWorkflow]


# Pure modules the workflows use, shared with the host rather than re-imported in the
# sandbox: the sandbox proxies zoneinfo.ZoneInfo, which datetime.astimezone then refuses.
PASSTHROUGH_MODULES = (
    "workflows.schedule",
    "workflows.window",
    "workflows.contracts",
    "workflows.search_attributes",
    "dateutil",
    "zoneinfo",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )
