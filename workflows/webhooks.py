"""WebhookDeliveryWorkflow: one event to one endpoint, durably. It runs `deliver_webhook`
(one signed POST per attempt) with backoff for up to a day, then, if no attempt was
accepted, `give_up_webhook` (the row failed; the endpoint's run of failures grows and may
disable it). Workflow id `webhook-<delivery id>`: starting it twice starts it once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import DELIVER_WEBHOOK, GIVE_UP_WEBHOOK

WORKFLOW_TYPE = "WebhookDeliveryWorkflow"

# Each attempt's own limit (the POST itself gives up sooner: WEBHOOK_TIMEOUT_SECONDS, at
# most 20 s); an attempt whose worker died is retried once this has passed.
ATTEMPT_TIMEOUT = timedelta(seconds=30)
# Retried for a day: 30 s, 1 min, 2 min ... then hourly.
DELIVERY_WINDOW = timedelta(hours=24)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)


def workflow_id_for(delivery_id: str) -> str:
    return f"webhook-{delivery_id}"


@dataclass
class WebhookDeliveryInput:
    delivery_id: str


@workflow.defn(name=WORKFLOW_TYPE)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, data: WebhookDeliveryInput) -> str:
        """The row's final status: succeeded, failed, or why it was not sent."""
        try:
            outcome: str = await workflow.execute_activity(
                DELIVER_WEBHOOK,
                data,
                result_type=str,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=RETRY,
            )
            return outcome
        except ActivityError:
            given_up: str = await workflow.execute_activity(
                GIVE_UP_WEBHOOK,
                data,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            )
            return given_up
