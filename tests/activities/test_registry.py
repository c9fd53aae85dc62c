"""The worker registers an activity under every name the workflows call
(workflows/contracts.py), and under no other: a renamed activity fails here, not when a
reminder fires."""

from __future__ import annotations

from typing import Any

from temporalio.activity import _Definition

from activities import build_activities, build_outbound
from channels.providers import SandboxProvider
from workflows.contracts import ACTIVITY_NAMES, SEND_CHANNELS, send_activity


async def test_the_worker_registers_each_activity_the_workflows_call(app: Any) -> None:
    settings = app.state.settings
    sandbox = {channel: SandboxProvider() for channel in SEND_CHANNELS}
    outbound = build_outbound(settings, providers=sandbox)
    try:
        registered = build_activities(settings, app.state.sessionmaker, outbound)
        names = [_Definition.must_from_callable(fn).name for fn in registered]
    finally:
        await outbound.close()
    assert sorted(names) == sorted(ACTIVITY_NAMES)
    assert send_activity("sms") in names
