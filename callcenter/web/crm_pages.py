"""The CRM pages (issue 16): customers, one customer, tickets and callbacks.

Public shells like the other pages (:mod:`callcenter.web.pages`): they carry no data, their
scripts read everything over the API (which checks every role) and go to ``/login`` on a 401.
The navigation (:data:`callcenter.web.pages.NAVIGATION`) is the same on every page.
"""

from __future__ import annotations

from aiohttp import web

from callcenter.web.keys import PAGES_KEY
from callcenter.web.requests import agent_settings


def _render(request: web.Request, template: str, title: str, page: str) -> web.Response:
    return request.app[PAGES_KEY].render(template, title=title, page=page)


async def customers_page(request: web.Request) -> web.Response:
    return _render(request, "customers.html", "Customers", "customers")


async def customer_page(request: web.Request) -> web.Response:
    settings = agent_settings(request)
    return request.app[PAGES_KEY].render(
        "customer.html",
        title="Customer",
        page="customers",
        dispositions=settings.dispositions,
    )


async def tickets_page(request: web.Request) -> web.Response:
    return _render(request, "tickets.html", "Tickets", "tickets")


async def callbacks_page(request: web.Request) -> web.Response:
    return _render(request, "callbacks.html", "Callbacks", "callbacks")


async def admin_page(request: web.Request) -> web.Response:
    return _render(request, "admin.html", "Administration", "admin")


async def import_page(request: web.Request) -> web.Response:
    return _render(request, "import.html", "Import", "import")
