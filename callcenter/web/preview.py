"""Preview dialing for agents: the next number of a running preview campaign, held for the
agent while they read the card, then dialed from their own phone (or given back).

The held number is checked again against do-not-call, consent and the callee's calling
window at the moment the agent presses dial (:meth:`Dialer.dial_preview`)."""

from __future__ import annotations

from aiohttp import web

from callcenter.campaigns.dialer import Dialer
from callcenter.errors import AmiError, ConflictError, NotFoundError
from callcenter.web.bodies import json_response
from callcenter.web.keys import CAMPAIGNS_KEY, CARDS_KEY, DIALER_KEY
from callcenter.web.requests import agent_of, pbx_error


def _dialer(request: web.Request) -> Dialer:
    dialer = request.app.get(DIALER_KEY)
    if dialer is None:
        raise ConflictError("campaigns are not dialing here (no PBX link, or turned off)")
    return dialer


async def next_preview(request: web.Request) -> web.Response:
    """``{"item": null}`` or the held number with its campaign, churn reasons and card."""
    _, extension = agent_of(request)
    held = await _dialer(request).next_preview(extension)
    if held is None:
        return json_response({"item": None})
    attempt = held.attempt
    context = await request.app[CAMPAIGNS_KEY].attempt_context(attempt.attempt_id) or {}
    card = await request.app[CARDS_KEY](attempt.number, "", extension)
    return json_response(
        {
            "item": {
                "attempt_id": attempt.attempt_id,
                "number": attempt.number,
                "tries": attempt.tries,
                "held_until": held.until,
                "campaign": context.get("campaign"),
                "churn": context.get("churn"),
                "customer": card,
            }
        }
    )


def _attempt_id(request: web.Request) -> str:
    attempt_id = request.match_info["attempt_id"]
    if len(attempt_id) > 64:
        raise NotFoundError("no such attempt")
    return attempt_id


async def dial_preview(request: web.Request) -> web.Response:
    _, extension = agent_of(request)
    try:
        dial_id = await _dialer(request).dial_preview(_attempt_id(request), extension)
    except AmiError as exc:
        return pbx_error(exc)
    return json_response({"dial_id": dial_id}, status=202)


async def skip_preview(request: web.Request) -> web.Response:
    _, extension = agent_of(request)
    _dialer(request).skip_preview(_attempt_id(request), extension)
    return json_response({"skipped": request.match_info["attempt_id"]})
