"""HTML pages and their static files: the login page, the agent panel, and the supervisors'
wallboard and reports.

The pages are shells: they carry no data about anyone (only the configured pause reasons and
dispositions), so they are public; the panel's scripts read everything over the API with the
session cookie and go to ``/login`` on a 401. Templates are rendered by jinja2 with
autoescaping on; the scripts put data into the page with ``textContent`` only.

Every page is served with a Content-Security-Policy that allows nothing but our own files:
no inline scripts or styles, no other origins, no framing, no plugins. ``connect-src 'self'``
covers ``fetch`` and the WebSocket to our own host and port (CSP level 3 lets ``'self'``
match ``ws:``/``wss:`` on the same host).

Static files are served from ``agent_ui/static`` with ``Cache-Control: no-cache`` (browsers
revalidate with the ETag, so a new release is picked up at once); only known file types, and
never anything outside that folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from aiohttp import web

from callcenter.web.agent_api import agent_settings

#: The agent_ui folder of the source tree (templates/ and static/).
UI_DIR = Path(__file__).resolve().parents[2] / "agent_ui"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
_STATIC_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.[a-z]{2,4}$")


class Pages:
    """The jinja2 environment over ``root/templates`` and the static folder ``root/static``."""

    def __init__(self, root: Path = UI_DIR) -> None:
        self.static_dir = (root / "static").resolve()
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, **context: object) -> web.Response:
        html = self._env.get_template(template).render(**context)
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
            },
        )

    def static_path(self, relative: str) -> Path | None:
        """The file for ``/static/<relative>``, or None if there is none we would serve."""
        if not _STATIC_PATH.match(relative):
            return None
        suffix = Path(relative).suffix
        if suffix not in _STATIC_TYPES:
            return None
        path = (self.static_dir / relative).resolve()
        if not path.is_relative_to(self.static_dir) or not path.is_file():
            return None
        return path


PAGES_KEY = web.AppKey("pages", Pages)


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/agent")


async def login_page(request: web.Request) -> web.Response:
    return request.app[PAGES_KEY].render("login.html", title="Log in")


async def agent_page(request: web.Request) -> web.Response:
    settings = agent_settings(request)
    return request.app[PAGES_KEY].render(
        "agent.html",
        title="Agent panel",
        pause_reasons=settings.pause_reasons,
        dispositions=settings.dispositions,
    )


async def wallboard_page(request: web.Request) -> web.Response:
    """The supervisors' live wallboard (a public shell: the data comes over the API, which
    answers 403 to agents)."""
    settings = agent_settings(request)
    return request.app[PAGES_KEY].render(
        "wallboard.html", title="Wallboard", pause_reasons=settings.pause_reasons
    )


async def reports_page(request: web.Request) -> web.Response:
    """The supervisors' reports (a public shell like the wallboard)."""
    return request.app[PAGES_KEY].render("reports.html", title="Reports")


async def static_file(request: web.Request) -> web.StreamResponse:
    path = request.app[PAGES_KEY].static_path(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _STATIC_TYPES[path.suffix],
            "Cache-Control": "no-cache",
        },
    )
