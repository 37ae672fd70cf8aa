from __future__ import annotations

from typing import Any

import pytest

from callcenter.model.records import Direction, Outcome
from callcenter.store import Role
from callcenter.web.keys import AUDIT_KEY, CALL_LOG_KEY
from tests.web.webclient import add_user, logged_in

T0 = 1714550400.0  # 2024-05-01T08:00:00Z


@pytest.fixture
async def calls(client: Any, make_call: Any) -> list[Any]:
    records = [
        make_call("a1", started_at=T0, agent="PJSIP/2001"),
        make_call("a2", started_at=T0 + 3600, queue="sales", caller_number="+4940111"),
        make_call(
            "a3",
            started_at=T0 + 7200,
            outcome=Outcome.ABANDONED,
            agent=None,
            answered_at=None,
        ),
        make_call(
            "a4",
            started_at=T0 + 86400,
            direction=Direction.OUTBOUND,
            queue=None,
            called_number="+4940111",
            agent="PJSIP/2001",
            outcome=Outcome.BUSY,
        ),
    ]
    await client.app[CALL_LOG_KEY].add_many(records)
    return records


@pytest.fixture
async def supervisor(client: Any) -> Any:
    return await logged_in(client, "sue", Role.SUPERVISOR)


async def call_ids(client: Any, query: str = "") -> list[str]:
    response = await client.get(f"/api/calls{query}")
    assert response.status == 200, await response.text()
    return [item["call_id"] for item in (await response.json())["items"]]


async def test_requires_login(client: Any, calls: list[Any]) -> None:
    response = await client.get("/api/calls")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["id"] == "unauthenticated"
    assert set(body["error"]) == {"id", "message", "details"}
    assert "Bearer" in response.headers["WWW-Authenticate"]


async def test_supervisor_reads_all_calls_in_the_record_shape(
    client: Any, calls: list[Any], supervisor: Any
) -> None:
    response = await client.get("/api/calls")
    body = await response.json()
    assert body["total"] == 4
    assert body["limit"] == 50
    assert body["next_cursor"] is None
    by_id = {item["call_id"]: item for item in body["items"]}
    assert [item["call_id"] for item in body["items"]] == ["a4", "a3", "a2", "a1"]
    for record in calls:
        assert by_id[record.call_id] == record.to_dict()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?from=2024-05-01T09:00:00Z", ["a4", "a3", "a2"]),
        ("?to=2024-05-01T09:00:00Z", ["a1"]),
        ("?from=2024-05-01T09:00:00Z&to=2024-05-02", ["a3", "a2"]),
        ("?from=2024-05-01T11:00:00%2B02:00", ["a4", "a3", "a2"]),
        ("?from=2024-05-01T11:00:00+02:00", ["a4", "a3", "a2"]),  # "+" decoded as a space
        ("?number=%2B4940111", ["a4", "a2"]),
        ("?agent=PJSIP/2001", ["a4", "a1"]),
        ("?queue=sales", ["a2"]),
        ("?outcome=abandoned", ["a3"]),
        ("?direction=outbound", ["a4"]),
        ("?direction=inbound&queue=support", ["a3", "a1"]),
        ("?outcome=failed", []),
    ],
)
async def test_filters(
    client: Any, calls: list[Any], supervisor: Any, query: str, expected: list[str]
) -> None:
    assert await call_ids(client, query) == expected


async def test_pagination_with_cursor(client: Any, calls: list[Any], supervisor: Any) -> None:
    seen: list[str] = []
    query = "?limit=3"
    while True:
        body = await (await client.get(f"/api/calls{query}")).json()
        assert body["total"] == 4
        seen += [item["call_id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=3&cursor={body['next_cursor']}"
    assert seen == ["a4", "a3", "a2", "a1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=yesterday", "from"),
        ("?to=2024-13-01", "to"),
        ("?from=0001-01-01T00:00:00%2B05:00", "from"),
        ("?to=9999-12-31T23:59:59.5", "to"),
        ("?from=2024-05-02&to=2024-05-01", "to"),
        ("?from=2024-05-01T00:00:00Z&to=2024-05-01", "to"),  # naive is UTC
        ("?outcome=hung_up", "outcome"),
        ("?direction=sideways", "direction"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=WzFd", "cursor"),  # base64 of [1]
        ("?queue=", "queue"),
        ("?queue=a&queue=b", "queue"),
        ("?agnet=PJSIP/2001", "agnet"),
        ("?number=" + "9" * 300, "number"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    client: Any, supervisor: Any, query: str, field: str
) -> None:
    response = await client.get(f"/api/calls{query}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["id"] == "invalid_input"
    assert error["details"]["field"] == field
    assert error["message"].startswith(f"{field}: ")
    assert error["details"]["reason"]


async def test_outcome_error_lists_the_choices(client: Any, supervisor: Any) -> None:
    error = (await (await client.get("/api/calls?outcome=x")).json())["error"]
    assert "answered" in error["details"]["reason"]
    assert "congestion" in error["details"]["reason"]


async def test_agents_read_only_their_own_calls(client: Any, calls: list[Any]) -> None:
    await logged_in(client, "ann", Role.AGENT, extension="PJSIP/2001")
    assert await call_ids(client) == ["a4", "a1"]
    assert await call_ids(client, "?agent=PJSIP/2001&outcome=busy") == ["a4"]
    response = await client.get("/api/calls?agent=PJSIP/2002")
    assert response.status == 403
    assert (await response.json())["error"]["id"] == "forbidden"


async def test_agent_without_extension_is_refused(client: Any, calls: list[Any]) -> None:
    await logged_in(client, "nox", Role.AGENT)
    response = await client.get("/api/calls")
    assert response.status == 403
    assert "extension" in (await response.json())["error"]["message"]


async def test_reading_calls_is_audited(client: Any, calls: list[Any], supervisor: Any) -> None:
    await client.get("/api/calls?queue=sales")
    await client.get("/api/calls?limit=0")  # refused: not audited as a read
    entries = await client.app[AUDIT_KEY].recent(action="calls.list")
    assert [(e.actor, e.target) for e in entries] == [("sue", "/api/calls?queue=sales")]
    assert entries[0].details["via"] == "session"


async def test_unknown_routes_need_login_then_404_json(client: Any) -> None:
    assert (await client.get("/api/nope")).status == 401
    await add_user(client, "adm", Role.ADMIN)
    await logged_in(client, "adm2", Role.ADMIN)
    response = await client.get("/api/nope")
    assert response.status == 404
    assert (await response.json())["error"]["id"] == "not_found"


async def test_wrong_method_is_405_json(client: Any, supervisor: Any) -> None:
    response = await client.delete("/api/calls", headers={"Origin": "http://evil.example"})
    assert response.status in {403, 405}
    response = await client.put("/api/calls", headers={"Origin": str(client.make_url("/"))[:-1]})
    assert response.status == 405
    assert (await response.json())["error"]["id"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
