"""Starting webhook delivery workflows from the API, the worker and the sweep: by id, so
a start that is repeated (a retried request, the sweep after a lost start) starts none."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.webhooks import WebhookDeliveryInput, WebhookDeliveryWorkflow, workflow_id_for


async def start_delivery(client: Client, task_queue: str, delivery_id: str) -> bool:
    """Start the delivery's workflow; False when it was started before (running or ended:
    an ended one is never run again, so an event is never delivered twice by this)."""
    try:
        await client.start_workflow(
            WebhookDeliveryWorkflow.run,
            WebhookDeliveryInput(delivery_id=delivery_id),
            id=workflow_id_for(delivery_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
