"""Reading the app event log (append-only: nothing here updates or deletes an event).

Events are written by `core.events.record_event` (or `Actor.record`, which fills in the
caller and their business) in the same transaction as the change they record. The
actions recorded today, and where:

| action | subject | recorded in |
| --- | --- | --- |
| `user.registered` | user | api/auth/service.py `register` |
| `auth.login_failed` | user (null if the email is unknown) | api/auth/service.py `login`, committed on its own since the request then fails |
| `auth.refresh_token_reused` | user | api/auth/service.py `refresh` |
| `user.password_changed` | user | api/users/router.py `update_me` |
| `business.updated` | business | api/business/service.py |
| `member.added`, `member.removed` | user | api/business/service.py |
| `client.created`, `client.updated`, `client.deleted` | client | api/clients/service.py |
| `clients.imported` | client (no id; counts in the payload) | api/clients/importer.py `import_clients` |
| `client_field.created`, `client_field.deleted` | client_field | api/client_fields/service.py |
| `client.opted_out`, `client.opted_in` | client | core/unsubscribe.py `set_opt_out` (links, inbound STOP/START, provider opt-outs) |
| `template.created`, `template.updated`, `template.deleted` | template | api/templates/service.py |
| `sender_identity.created`, `.updated`, `.deleted` | sender_identity | api/sender_identities/service.py |
| `reminder.created`, `reminder.updated` | reminder | api/reminders/service.py |
| `reminder.signal` | reminder (payload `signal`: pause, resume, complete, cancel, trigger_now) | api/reminders/service.py |
| `delivery.failed` | delivery | activities/delivery.py (permanent failures) |
| `webhook_endpoint.created`, `.updated`, `.deleted`, `.secret_rotated`, `.tested` | webhook_endpoint | api/webhook_endpoints/service.py (never the secret) |
| `webhook_endpoint.disabled` | webhook_endpoint (payload `failures`) | activities/webhooks.py `give_up_webhook` |
| `reconcile.run` | none (payload: source and counts; no business) | ops/reconcile.py |
| `admin.created`, `admin.password_reset` | user (no business) | ops/admin.py (`reminders create-admin`) |
| `admin.user_created`, `admin.user_deleted` | user | api/admin/service.py |
| `auth.password_reset_requested` | user (no actor) | api/auth/reset_links.py (forgot password, for an active account only) |
| `invitation.created`, `invitation.revoked`, `invitation.accepted` | invitation | api/invitations/service.py, accept.py (accepted: the new member is the actor) |

Payloads are small and never hold secrets: `record_event` drops password and token keys.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.events.schemas import EventRead
from core.repositories.events import EventFilters, events_page


async def list_events(
    session: AsyncSession, filters: EventFilters, limit: int, offset: int
) -> tuple[list[EventRead], int]:
    """One page of the events matching `filters` (callers scope `business_id`)."""
    rows, total = await events_page(session, filters, limit, offset)
    items = []
    for event, email in rows:
        item = EventRead.model_validate(event)
        item.actor_email = email
        items.append(item)
    return items, total
