"""HTML pages and their static files: the login page, the agent panel, and the supervisors'
wallboard, reports and campaigns.

The pages are shells: they carry no data about anyone (only the configured pause reasons and
dispositions), so they are public; the panel's scripts read everything over the API with the
session cookie and go to ``/login`` on a 401. Templates are rendered by jinja2 with
autoescaping on; the scripts put data into the page with ``textContent`` only.

Every page is served with a Content-Security-Policy that allows nothing but our own files:
no inline scripts or styles, no other origins, no framing, no plugins. ``connect-src 'self'``
covers ``fetch`` and the WebSocket to our own host and port (CSP level 3 lets ``'self'``
match ``ws:``/``wss:`` on the same host).

Static files are the few small files of ``agent_ui/static`` (about 80 KB), read into memory
once at start: serving them costs no disk access and no file handle that a browser hanging up
mid-download could leave open. They go out with ``Cache-Control: no-cache`` and a content
ETag (browsers revalidate, so a new release is picked up at once); only known file types,
and never anything outside that folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jinja2
from aiohttp import web

from callcenter.web.keys import PAGES_KEY
from callcenter.web.requests import agent_settings

#: The agent_ui folder (templates/ and static/), installed as the package callcenter.agent_ui.
UI_DIR = Path(str(files("callcenter.agent_ui")))

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

#: (path, label, roles that may use it) of every page, in the navigation's order: one
#: navigation on every page; the pages' scripts hide the links the user's role may not follow
#: (the API behind each page checks the role anyway).
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("agent", "Agent panel", "agent supervisor admin"),
    ("customers", "Customers", "agent supervisor admin"),
    ("tickets", "Tickets", "agent supervisor admin"),
    ("callbacks", "Callbacks", "agent supervisor admin"),
    ("wallboard", "Wallboard", "supervisor admin"),
    ("reports", "Reports", "supervisor admin"),
    ("campaigns", "Campaigns", "supervisor admin"),
    ("import", "Import", "supervisor admin"),
    ("admin", "Administration", "admin"),
)

_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
_STATIC_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.[a-z]{2,4}$")


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def load_static_files(static_dir: Path) -> dict[str, StaticFile]:
    """Every servable file under ``static_dir`` by its path relative to it."""
    files: dict[str, StaticFile] = {}
    for path in sorted(static_dir.rglob("*")):
        relative = path.relative_to(static_dir).as_posix()
        if not path.is_file() or not _STATIC_PATH.match(relative):
            continue
        content_type = _STATIC_TYPES.get(path.suffix)
        if content_type is None:
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[relative] = StaticFile(body, content_type, etag)
    return files


class Pages:
    """The jinja2 environment over ``root/templates`` and the static files of ``root/static``."""

    def __init__(self, root: Path = UI_DIR) -> None:
        self._static = load_static_files((root / "static").resolve())
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals["navigation"] = NAVIGATION

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

    def static_file(self, relative: str) -> StaticFile | None:
        """The file for ``/static/<relative>``, or None if there is none we would serve."""
        return self._static.get(relative)


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


async def campaigns_page(request: web.Request) -> web.Response:
    """The supervisors' outbound campaigns (a public shell like the reports)."""
    return request.app[PAGES_KEY].render("campaigns.html", title="Campaigns")


async def static_file(request: web.Request) -> web.Response:
    served = request.app[PAGES_KEY].static_file(request.match_info["path"])
    if served is None:
        raise web.HTTPNotFound()
    headers = {"Cache-Control": "no-cache", "ETag": served.etag}
    if served.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = served.content_type
    return web.Response(body=served.body, headers=headers)
