"""The repository reads and writes the API's services lean on beyond a business's own
scoped `get`: a client looked up by a link that names it, and a membership added."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from core.enums import Role
from core.models import Membership, User
from core.repositories.clients import ClientRepository
from core.repositories.users import UserRepository
from tests.conftest import Tenant


async def test_an_unscoped_get_finds_a_client_the_scoped_get_hides_from_other_businesses(
    app: Any, client: httpx.AsyncClient, owner: Tenant, other_owner: Tenant
) -> None:
    made = await client.post("/api/v1/clients", headers=owner.headers, json={"name": "Alice"})
    assert made.status_code == 201, made.text
    client_id = uuid.UUID(made.json()["id"])
    async with app.state.sessionmaker() as session:
        clients = ClientRepository(session)
        assert await clients.get(uuid.UUID(other_owner.business_id), client_id) is None
        found = await clients.get_unscoped(client_id, for_update=True)
        assert found is not None
        assert str(found.business_id) == owner.business_id
        assert await clients.get_unscoped(uuid.uuid4()) is None


async def test_an_added_membership_is_flushed_and_found_but_not_committed(
    app: Any, owner: Tenant
) -> None:
    business_id = uuid.UUID(owner.business_id)
    async with app.state.sessionmaker() as session:
        users = UserRepository(session)
        user = await users.add(User(email="staff@example.com", full_name="S", hashed_password="x"))
        membership = await users.add_membership(
            Membership(business_id=business_id, user_id=user.id, role=Role.member.value)
        )
        found = await users.get_membership(business_id, membership.id)
        assert found is not None
        assert found.user.email == "staff@example.com"
    async with app.state.sessionmaker() as session:
        assert await UserRepository(session).get_membership(business_id, membership.id) is None
