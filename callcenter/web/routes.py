"""The whole URL table, with who may call each route and what gets audited.

``Access`` decides in the middleware: ``PUBLIC`` needs no login; otherwise 401 without a
login and 403 unless the user's role is listed. Routes not in this table (404/405 answers)
need a login, so the URL space is not probeable anonymously. Finer rules that depend on the
data (an agent reads only their own calls) live in the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from callcenter.web import api
from callcenter.web.auth import ADMINS, ANY_USER, PUBLIC, Access
from callcenter.web.keys import ROUTE_ACCESS_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    name: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", api.health, PUBLIC, "health"),
    Route("POST", "/api/login", api.login, PUBLIC, "login"),
    Route("POST", "/api/logout", api.logout, ANY_USER, "logout"),
    Route("GET", "/api/me", api.me, ANY_USER, "me"),
    # Agents too, but the handler narrows them to their own calls.
    Route("GET", "/api/calls", api.list_calls, ANY_USER.audited("calls.list"), "calls"),
    Route("GET", "/api/users", api.list_users, ADMINS.audited("users.list"), "users"),
    Route("GET", "/api/audit", api.list_audit, ADMINS.audited("audit.list"), "audit"),
)


def setup_routes(app: web.Application) -> None:
    access = {}
    for route in ROUTES:
        added = app.router.add_route(route.method, route.path, route.handler, name=route.name)
        access[added] = route.access
    app[ROUTE_ACCESS_KEY] = access
