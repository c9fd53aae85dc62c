"""Workflows: deterministic code only; each module holds one workflow and its dataclasses."""

from __future__ import annotations

from workflows.diagnostics import PingWorkflow

# Everything the worker registers; the reminder engine adds ReminderWorkflow here.
WORKFLOWS: list[type] = [PingWorkflow]
