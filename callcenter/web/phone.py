"""The agent's browser phone: its SIP credentials (to that agent only) and its settings.

``GET /api/agent/phone`` tells the panel which phone it is:

- ``webrtc``: the agent's extension is a PJSIP endpoint with stored credentials and
  ``[phone] webrtc_ws`` is set: the panel registers ``sip:<endpoint>@<domain>`` over our
  ``/sip`` proxy with the password given here (``Cache-Control: no-store``, like all of
  ``/api``; the password is in no listing, log or audit entry);
- ``simulated``: the demo's fake PBX: there is no media, the panel shows the phone as
  simulated and the demo's traffic answers for it;
- ``desk``: no browser phone: the panel remote-controls the agent's desk phone over AMI.
"""

from __future__ import annotations

from aiohttp import web

from callcenter.store.accounts import sip_user
from callcenter.web.bodies import read_json_object
from callcenter.web.errors import PermissionDenied, ValidationError
from callcenter.web.keys import (
    ACCOUNTS_KEY,
    CLOCK_KEY,
    PRINCIPAL_KEY,
    SETTINGS_KEY,
    SIMULATED_PHONES_KEY,
)

#: Set by ``callcenter demo``: the PBX is our fake one (no SIP, no media).

SIP_PATH = "/sip"


async def my_phone(request: web.Request) -> web.Response:
    user = request[PRINCIPAL_KEY].user
    settings = request.app[SETTINGS_KEY].phone
    body: dict[str, object] = {"mode": "desk", "extension": user.extension}
    if request.app.get(SIMULATED_PHONES_KEY, False):
        body["mode"] = "simulated"
        return web.json_response(body)
    endpoint = sip_user(user.extension)
    phone = None if endpoint is None else await request.app[ACCOUNTS_KEY].browser_phone(user.id)
    if endpoint is None or phone is None:
        return web.json_response(body)
    if not settings.webrtc_ws:
        body["reason"] = "browser phones are not configured on this server ([phone] webrtc_ws)"
        return web.json_response(body)
    body.update(
        {
            "mode": "webrtc",
            "ws_path": SIP_PATH,
            "uri": f"sip:{endpoint}@{settings.domain}",
            "username": endpoint,
            "password": phone.sip_password,
            "auto_answer": phone.auto_answer,
            "auto_answer_campaigns": settings.auto_answer_campaigns,
            "ice_timeout_ms": round(settings.ice_timeout_s * 1000),
            "audio_processing": settings.audio_processing,
        }
    )
    return web.json_response(body)


async def update_my_phone(request: web.Request) -> web.Response:
    """``{"auto_answer": bool}``: answer queue calls without a click."""
    user = request[PRINCIPAL_KEY].user
    body = await read_json_object(request)
    auto_answer = body.get("auto_answer")
    if not isinstance(auto_answer, bool):
        raise ValidationError("auto_answer", "required, true or false")
    accounts = request.app[ACCOUNTS_KEY]
    if sip_user(user.extension) is None or await accounts.browser_phone(user.id) is None:
        raise PermissionDenied("no browser phone is assigned to this user")
    await accounts.set_auto_answer(user.id, auto_answer, now=request.app[CLOCK_KEY]())
    return web.json_response({"auto_answer": auto_answer})
