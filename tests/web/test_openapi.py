"""The OpenAPI document stays in sync with the route table."""

from __future__ import annotations

import re
from typing import Any

from callcenter.store import Role
from callcenter.web.openapi import OPERATIONS, openapi_path
from callcenter.web.routes import ROUTES
from tests.web.webclient import logged_in


async def test_every_api_route_and_nothing_else(client: Any) -> None:
    assert (await client.get("/api/openapi.json")).status == 401
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    routed = {
        (openapi_path(route.path), route.method)
        for route in ROUTES
        if route.path.startswith("/api/")
    }
    assert documented == routed
    assert set(OPERATIONS) == {route.name for route in ROUTES if route.path.startswith("/api/")}


async def test_operations_say_who_may_call_them(client: Any) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    document = await (await client.get("/api/openapi.json")).json()
    erase = document["paths"]["/api/customers/{id}"]["delete"]
    assert erase["x-roles"] == ["admin"]
    assert {"401", "403", "404"} <= set(erase["responses"])
    assert erase["parameters"][0] == {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    login = document["paths"]["/api/login"]["post"]
    assert login["security"] == []
    assert "x-roles" not in login
    lookup = document["paths"]["/api/customers/lookup"]["get"]
    assert lookup["x-audit"] == "customers.lookup"


async def test_every_reference_resolves(client: Any) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    document = await (await client.get("/api/openapi.json")).json()

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        _, section, kind, name = ref.split("/")
        assert name in document[section][kind], ref


async def test_paths_are_valid_templates_with_typed_parameters(client: Any) -> None:
    """Route patterns with braces of their own (``{0,127}``) once leaked into the paths."""
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    document = await (await client.get("/api/openapi.json")).json()
    for path, item in document["paths"].items():
        assert "}}" not in path and ":" not in path, path
        for operation in item.values():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert names == re.findall(r"\{(\w+)\}", path), path
    recording = document["paths"]["/api/calls/{call_id}/recording"]["get"]
    assert recording["parameters"][0]["schema"] == {"type": "string"}
