"""Every route of the table: 401 without a login, 403 for a role it does not list, and for
cookie sessions the CSRF (Origin) check on every unsafe method."""

from __future__ import annotations

import re
from typing import Any

import pytest

from callcenter.store import Role
from callcenter.web.auth import UNSAFE_METHODS
from callcenter.web.routes import ROUTES, Route
from tests.web.webclient import logged_in, origin

PROTECTED = [route for route in ROUTES if not route.access.public]
UNSAFE = [route for route in PROTECTED if route.method in UNSAFE_METHODS]


def concrete(route: Route) -> str:
    """The route's path with its parameters filled in."""
    return re.sub(r"\{(\w+)(:[^}]*)?\}", "1", route.path)


def ident(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", PROTECTED, ids=ident)
async def test_anonymous_is_401(client: Any, route: Route) -> None:
    response = await client.request(
        route.method, concrete(route), headers={"Origin": origin(client)}
    )
    assert response.status == 401
    assert (await response.json())["error"]["id"] == "unauthenticated"


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
async def test_roles(client: Any, role: Role) -> None:
    await logged_in(client, "user", role, extension="PJSIP/2001")
    for route in PROTECTED:
        if route.name in ("logout", "sip"):
            continue  # /sip also needs the user's own browser phone: tests/web/test_sip_proxy.py
        response = await client.request(
            route.method, concrete(route), headers={"Origin": origin(client)}
        )
        if route.access.allows(role):
            assert response.status not in (401, 403), ident(route)
        else:
            assert response.status == 403, ident(route)
            assert (await response.json())["error"]["id"] == "forbidden"


def test_the_crm_access_rules() -> None:
    by_name = {route.name: route.access for route in ROUTES}
    admins = {"customer_erase", "customer_export", "customers_csv", "calls_csv"}
    supervisors = {"customer_merge", "customers_import", "segment_create", "segment_delete"}
    for name in admins:
        assert by_name[name].roles == {Role.ADMIN}, name
    for name in supervisors:
        assert by_name[name].roles == {Role.ADMIN, Role.SUPERVISOR}, name
    for name in ("customer", "customer_lookup", "customers", "search", "customer_export"):
        assert by_name[name].audit, name


@pytest.mark.parametrize("route", UNSAFE, ids=ident)
@pytest.mark.parametrize("headers", [{}, {"Origin": "http://evil.example"}])
async def test_cookie_requests_need_our_origin(
    client: Any, route: Route, headers: dict[str, str]
) -> None:
    await logged_in(client, "root", Role.ADMIN)
    response = await client.request(route.method, concrete(route), json={}, headers=headers)
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "csrf_rejected"


async def test_agents_may_not_filter_by_churn_score(client: Any) -> None:
    """min_churn let agents bisect the supervisor-only churn score (issue 13, item 13)."""
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    response = await client.get("/api/customers", params={"min_churn": "50"})
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "forbidden"
    assert (await client.get("/api/customers")).status == 200
    await client.post("/api/logout", json={}, headers={"Origin": origin(client)})
    await logged_in(client, "boss", Role.SUPERVISOR)
    assert (await client.get("/api/customers", params={"min_churn": "50"})).status == 200
