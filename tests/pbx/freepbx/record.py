#!/usr/bin/env python3
"""Record the FreePBX-style golden captures on the lab kit (not a test).

    ../shared/pbx/pbx start DIR --port-base 27000 --center-conf tests/pbx/freepbx
    python3 tests/pbx/freepbx/record.py DIR NAME [NAME ...]     # or: all
    python3 tests/pbx/freepbx/record.py index tests/fixtures/ami/freepbx/NAME.ami
    ../shared/pbx/pbx stop DIR

Each NAME makes one call with world-side actions (scenarios.py's Lab), recorded by
../shared/pbx/amirec.py as the kit's `lab` AMI user (read=all, no event filter: the full
stream) into tests/fixtures/ami/freepbx/NAME.ami (+ NAME.actions.jsonl). It prints one JSON
line of what it did. systemname_queue restarts the center with `systemname = fpbx1` first
(see with_systemname; run it last). The truth files are written by hand from that and the
stream (`index` lists a capture's events with their numbers, #0 = the first event after the
login response).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
KIT = ROOT.parent / "shared" / "pbx"
OUT = ROOT / "tests" / "fixtures" / "ami" / "freepbx"

_spec = importlib.util.spec_from_file_location("scenarios", KIT / "scenarios.py")
assert _spec and _spec.loader
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)


class Rec:
    """amirec.py running for the length of one capture."""

    def __init__(self, kit_dir: Path, name: str) -> None:
        for old in OUT.glob(f"{name}.*"):
            if old.name.endswith((".ami", ".actions.jsonl")):
                old.unlink()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(KIT / "amirec.py"),
                str(kit_dir),
                str(OUT / name),
                "--user",
                "lab",
                "--secret",
                "lab-secret",
                "--seconds",
                "300",
            ]
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


async def world_dial(lab: Any, ext: str, number: str) -> str:
    """Desk phone <ext> dials <number> (the world's endpoint phone-<ext>); returns its channel."""
    q = lab.world.listen()
    r = await lab.world.send(
        "Originate",
        Channel=f"PJSIP/{number}@phone-{ext}",
        Application="Wait",
        Data="120",
        Async="true",
        Timeout="30000",
        CallerID=f'"Phone {ext}" <{ext}>',
    )
    aid = r.get("ActionID")
    ev = await sc.wait_for(
        q, lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == aid, 40
    )
    lab.world.listeners.remove(q)
    if not ev or ev.get("Response") != "Success":
        raise SystemExit(f"phone {ext} could not dial {number}: {ev}")
    return str(ev["Channel"])


async def center_chan(lab: Any, prefix: str) -> str:
    for c in await sc.center_channels(lab):
        if c["Channel"].startswith(prefix):
            return str(c["Channel"])
    raise SystemExit(f"no center channel {prefix}*")


async def quiet(lab: Any, seconds: float = 20) -> None:
    """Wait (at most <seconds>) until the center has no channels left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not await sc.center_channels(lab):
            return
        await asyncio.sleep(0.5)


def ev_is(name: str, **fields: str) -> Any:
    def pred(e: dict[str, str]) -> bool:
        return e.get("Event") == name and all(e.get(k, "").startswith(v) for k, v in fields.items())

    return pred


CALLER = "+493012345678"


async def call_in(lab: Any, did: str, number: str = CALLER, name: str = "Jürgen Müller") -> str:
    """The world's Originate of a customer calling <did>; completes once the center answers."""
    try:
        chan, _ = await lab.world_call_in(did, number, name)
    except SystemExit as e:  # never answered: asyncio would let SystemExit end the run
        raise RuntimeError(str(e)) from None
    return str(chan)


# ---------------------------------------------------------------- the captures


async def queue_local_members(lab: Any, t: dict[str, Any]) -> None:
    """(b) DID 4930555202 -> queue 700 (ringall, members Local/20XX@from-queue/n)."""
    await lab.phone("2007", "noanswer")
    await lab.phone("2008", "answer", 3)
    cq = lab.center.listen()
    caller = await call_in(lab, "4930555202")
    await sc.wait_for(cq, ev_is("AgentConnect"), 30)
    await asyncio.sleep(4)
    ph = await lab.world_phone_channel("2008")
    await lab.hangup_world(ph)
    t.update(
        did="4930555202",
        caller=CALLER,
        rang=["2007", "2008"],
        answered_by="2008",
        hangup_by="agent (2008's phone hung up)",
        world_caller=caller,
    )


async def ringgroup_local_n(lab: Any, t: dict[str, Any]) -> None:
    """(a) DID 4930555200 -> ring group 600: Local/2001@from-internal/n & Local/2002@.../n."""
    await lab.phone("2001", "answer", 3)
    await lab.phone("2002", "noanswer")
    cq = lab.center.listen()
    caller = await call_in(lab, "4930555200")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2001", DialStatus="ANSWER"), 30)
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    t.update(
        did="4930555200",
        caller=CALLER,
        rang=["2001", "2002"],
        answered_by="2001",
        hangup_by="caller",
    )


async def ringgroup_local(lab: Any, t: dict[str, Any]) -> None:
    """(a) DID 4930555201 -> ring group 601: Local/2003@from-internal & Local/2004@... (no /n)."""
    await lab.phone("2003", "noanswer")
    await lab.phone("2004", "answer", 2)
    cq = lab.center.listen()
    await call_in(lab, "4930555201", "+493098765432", "Erika Mustermann")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2004", DialStatus="ANSWER"), 30)
    await asyncio.sleep(4)
    ph = await lab.world_phone_channel("2004")
    await lab.hangup_world(ph)
    t.update(
        did="4930555201",
        caller="+493098765432",
        rang=["2003", "2004"],
        answered_by="2004",
        hangup_by="agent (2004's phone hung up)",
    )


async def ringgroup_noanswer(lab: Any, t: dict[str, Any]) -> None:
    """(a) DID 4930555200 -> ring group 600; 2001 declines after 6 s (its phone hangs up the
    ringing call), 2002 rings until the group's 20 s are up: the PBX ends the call."""
    await lab.phone("2001", "noanswer")
    await lab.phone("2002", "noanswer")
    cq = lab.center.listen()
    calling = asyncio.create_task(call_in(lab, "4930555200", "+493055566677", "Ungeduldig"))
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2002"), 15)
    await asyncio.sleep(6)
    await lab.hangup_world(await lab.world_phone_channel("2001"))
    await asyncio.wait([calling], timeout=30)
    t["caller_answered"] = calling.done() and not calling.exception()
    t.update(
        did="4930555200",
        caller="+493055566677",
        rang=["2001", "2002"],
        declined_by="2001 (after 6 s)",
        answered_by=None,
        ended_by="the ring group's 20 s timeout (Dial NOANSWER), the PBX hangs up the caller",
    )


async def ringgroup_abandon(lab: Any, t: dict[str, Any]) -> None:
    """(a) DID 4930555200 -> ring group 600; nobody answers; the caller gives up after 6 s."""
    await lab.phone("2001", "noanswer")
    await lab.phone("2002", "noanswer")
    cq = lab.center.listen()
    calling = asyncio.create_task(call_in(lab, "4930555200", "+493055566677", "Ungeduldig"))
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2002"), 15)
    await asyncio.sleep(6)
    await lab.hangup_world(await world_channel(lab, "+493055566677"))
    await asyncio.wait([calling], timeout=10)
    t["caller_answered"] = calling.done() and not calling.exception()
    t.update(
        did="4930555200",
        caller="+493055566677",
        rang=["2001", "2002"],
        answered_by=None,
        hangup_by="caller (after 6 s of ringing)",
    )


async def world_channel(lab: Any, number: str) -> str:
    """The world-side channel of the customer calling from <number> (not yet answered)."""
    q = lab.world.listen()
    await lab.world.send("CoreShowChannels")
    found = ""
    while ev := await sc.wait_for(
        q, lambda e: e.get("Event") in ("CoreShowChannel", "CoreShowChannelsComplete"), 5
    ):
        if ev["Event"] == "CoreShowChannelsComplete":
            break
        if ev.get("CallerIDNum") == number and ev.get("Context") != "phone":
            found = ev["Channel"]
    lab.world.listeners.remove(q)
    return found


async def pickup_directed(lab: Any, t: dict[str, Any]) -> None:
    """(e) DID 4930555206 -> 2009 rings; 2010 dials **2009 (PickupChan) and takes the call."""
    await lab.phone("2009", "noanswer")
    cq = lab.center.listen()
    # the world's Originate of the caller completes only once the center answers
    calling = asyncio.create_task(call_in(lab, "4930555206"))
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2009"), 15)
    await asyncio.sleep(3)
    picker = await world_dial(lab, "2010", "**2009")
    await sc.wait_for(cq, ev_is("Pickup"), 10)
    caller = await calling
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    t.update(
        did="4930555206",
        caller=CALLER,
        rang=["2009"],
        picked_up_by="2010 (**2009)",
        hangup_by="caller",
        world_picker=picker,
    )


async def pickup_group(lab: Any, t: dict[str, Any]) -> None:
    """(e) DID 4930555207 -> 2011 rings (call group 1); 2012 dials *8 (pickup group 1)."""
    await lab.phone("2011", "noanswer")
    cq = lab.center.listen()
    calling = asyncio.create_task(call_in(lab, "4930555207", "+4917612345678", "Max Mobil"))
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2011"), 15)
    await asyncio.sleep(3)
    picker = await world_dial(lab, "2012", "*8")
    await sc.wait_for(cq, ev_is("Pickup"), 10)
    await calling
    await asyncio.sleep(4)
    await lab.hangup_world(picker)
    t.update(
        did="4930555207",
        caller="+4917612345678",
        rang=["2011"],
        picked_up_by="2012 (*8)",
        hangup_by="agent (2012's phone hung up)",
    )


async def _internal_then_atxfer(
    lab: Any, t: dict[str, Any], target_delay: float, blonde: bool
) -> str:
    await lab.phone("2014", "answer", 2)
    await lab.phone("2015", "answer", target_delay)
    cq = lab.center.listen()
    a = await world_dial(lab, "2013", "2014")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2014", DialStatus="ANSWER"), 15)
    await asyncio.sleep(3)
    b = await center_chan(lab, "PJSIP/2014-")
    r = await lab.center.send("Atxfer", Channel=b, Exten="2015", Context="from-phones")
    t["atxfer"] = {"channel": b, "exten": "2015", "response": r.get("Response")}
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2015"), 10)
    if blonde:
        await asyncio.sleep(1.5)  # 2015 still rings: 2014 hangs up, the transfer completes
    else:
        await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2015", DialStatus="ANSWER"), 15)
        await asyncio.sleep(2)  # consultation
    bph = await lab.world_phone_channel("2014")
    await lab.hangup_world(bph)
    t["transferer_hung_up_at"] = sc.now()
    if blonde:
        await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2015", DialStatus="ANSWER"), 15)
    await asyncio.sleep(4)
    return a


async def transfer_attended(lab: Any, t: dict[str, Any]) -> None:
    """(f) 2013 calls 2014; 2014 (AMI Atxfer) consults 2015, who answers; 2014 hangs up."""
    a = await _internal_then_atxfer(lab, t, 2, blonde=False)
    await lab.hangup_world(a)
    t.update(
        caller="2013",
        called="2014",
        answered_by="2014",
        transfer_to="2015",
        kind="attended (2015 answered, 2 s consultation, then 2014 hung up)",
        hangup_by="caller (2013)",
    )


async def transfer_blonde(lab: Any, t: dict[str, Any]) -> None:
    """(f) 2013 calls 2014; 2014 (AMI Atxfer) dials 2015 and hangs up while 2015 rings."""
    await _internal_then_atxfer(lab, t, 6, blonde=True)
    ph = await lab.world_phone_channel("2015")
    await lab.hangup_world(ph)
    t.update(
        caller="2013",
        called="2014",
        answered_by="2014",
        transfer_to="2015",
        kind="blonde (2014 hung up 1.5 s into 2015's ringing; 2015 answered later)",
        hangup_by="agent (2015)",
    )


async def forward_noanswer(lab: Any, t: dict[str, Any]) -> None:
    """(d) DID 4930555204 -> 2016 rings 8 s unanswered -> Dial 2017, who answers."""
    await lab.phone("2016", "noanswer")
    await lab.phone("2017", "answer", 2)
    cq = lab.center.listen()
    caller = await call_in(lab, "4930555204")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2017", DialStatus="ANSWER"), 30)
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    t.update(
        did="4930555204",
        caller=CALLER,
        rang=["2016", "2017"],
        answered_by="2017",
        hangup_by="caller",
    )


async def followme_external(lab: Any, t: dict[str, Any]) -> None:
    """(c) DID 4930555203 -> follow-me 2018: 2018 alone 6 s, then 2018 + +4915112345601."""
    await lab.phone("2018", "noanswer")
    cq = lab.center.listen()
    await call_in(lab, "4930555203")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/carrier", DialStatus="ANSWER"), 40)
    await asyncio.sleep(4)
    await sc.hangup_customer(lab, "+4915112345601")
    t.update(
        did="4930555203",
        caller=CALLER,
        rang=["2018", "2018", "+4915112345601"],
        answered_by="+4915112345601 (outside, over the carrier trunk)",
        hangup_by="agent side (the mobile hung up)",
    )


async def _acceptance(lab: Any, t: dict[str, Any], digit: str) -> asyncio.Task[str]:
    await lab.phone("2019", "answer", 2)
    cq = lab.center.listen()
    calling = asyncio.create_task(call_in(lab, "4930555205"))
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2019"), 15)
    await sc.wait_for(cq, ev_is("Newstate", Channel="PJSIP/2019", ChannelStateDesc="Up"), 15)
    await asyncio.sleep(1.5)
    ph = await lab.world_phone_channel("2019")
    r = await lab.world.send("PlayDTMF", Channel=ph, Digit=digit, Duration="250")
    t["dtmf"] = {"digit": digit, "response": r.get("Response")}
    return calling


async def acceptance_accept(lab: Any, t: dict[str, Any]) -> None:
    """(g) DID 4930555205 -> Dial(PJSIP/2019,,U(confirm-call)): 2019 answers, presses 1."""
    caller = await (await _acceptance(lab, t, "1"))
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    t.update(did="4930555205", caller=CALLER, answered_by="2019 (pressed 1)", hangup_by="caller")


async def acceptance_reject(lab: Any, t: dict[str, Any]) -> None:
    """(g) the same, 2019 answers and presses 2: its leg is hung up, the caller too."""
    calling = await _acceptance(lab, t, "2")
    await asyncio.wait([calling], timeout=15)
    t["caller_answered"] = calling.done() and not calling.exception()
    t.update(
        did="4930555205",
        caller=CALLER,
        answered_by=None,
        note="2019 answered the prompt and pressed 2 (reject)",
    )


async def systemname_queue(lab: Any, t: dict[str, Any]) -> None:
    """(h) a center with systemname set: DID 4930555100 -> our queue support -> 2020."""
    await lab.logout_all("support")
    await lab.phone("2020", "answer", 2)
    await lab.login("support", ["2020"])
    cq = lab.center.listen()
    caller = await call_in(lab, "4930555100")
    await sc.wait_for(cq, ev_is("AgentConnect"), 30)
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    await asyncio.sleep(1)
    await lab.logout_all("support")
    t.update(
        did="4930555100", caller=CALLER, queue="support", answered_by="2020", hangup_by="caller"
    )


async def queue_local_blind_transfer(lab: Any, t: dict[str, Any]) -> None:
    """Queue 700 through Local members: 2008 answers, then blind-transfers the caller to 2005
    (AMI BlindTransfer on 2008's channel, context from-phones), who answers."""
    await lab.phone("2007", "noanswer")
    await lab.phone("2008", "answer", 2)
    await lab.phone("2005", "answer", 3)
    cq = lab.center.listen()
    caller = await call_in(lab, "4930555202", "+493044433322", "Blind Transfer")
    await sc.wait_for(cq, ev_is("AgentConnect"), 30)
    await asyncio.sleep(3)
    b = await center_chan(lab, "PJSIP/2008-")
    r = await lab.center.send("BlindTransfer", Channel=b, Exten="2005", Context="from-phones")
    t["blindtransfer"] = {"channel": b, "exten": "2005", "response": r.get("Response")}
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2005", DialStatus="ANSWER"), 20)
    await asyncio.sleep(4)
    await lab.hangup_world(caller)
    t.update(
        did="4930555202",
        caller="+493044433322",
        rang=["2007", "2008", "2005"],
        answered_by="2008, then 2005 after the blind transfer",
        hangup_by="caller",
    )


async def ringgroup_blonde_transfer(lab: Any, t: dict[str, Any]) -> None:
    """Ring group 600 (Local/.../n): 2001 answers the customer, then (AMI Atxfer) dials 2006
    and hangs up while 2006 still rings; 2006 answers the customer."""
    await lab.phone("2001", "answer", 2)
    await lab.phone("2002", "noanswer")
    await lab.phone("2006", "answer", 6)
    cq = lab.center.listen()
    await call_in(lab, "4930555200", "+493033322211", "Blonde Transfer")
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2001", DialStatus="ANSWER"), 30)
    await asyncio.sleep(3)
    b = await center_chan(lab, "PJSIP/2001-")
    r = await lab.center.send("Atxfer", Channel=b, Exten="2006", Context="from-phones")
    t["atxfer"] = {"channel": b, "exten": "2006", "response": r.get("Response")}
    await sc.wait_for(cq, ev_is("DialBegin", DestChannel="PJSIP/2006"), 10)
    await asyncio.sleep(1.5)
    await lab.hangup_world(await lab.world_phone_channel("2001"))
    await sc.wait_for(cq, ev_is("DialEnd", DestChannel="PJSIP/2006", DialStatus="ANSWER"), 20)
    await asyncio.sleep(4)
    await lab.hangup_world(await lab.world_phone_channel("2006"))
    t.update(
        did="4930555200",
        caller="+493033322211",
        rang=["2001", "2002", "2006"],
        answered_by="2001, then 2006 (blonde transfer: 2001 hung up while 2006 rang)",
        hangup_by="agent (2006)",
    )


async def ringgroup_internal(lab: Any, t: dict[str, Any]) -> None:
    """Desk phone 2005 dials ring group 601 (Local/... without /n): 2004 answers."""
    await lab.phone("2003", "noanswer")
    await lab.phone("2004", "answer", 2)
    cq = lab.center.listen()
    a = await world_dial(lab, "2005", "601")
    await sc.wait_for(cq, ev_is("BridgeEnter", Channel="PJSIP/2005"), 10)
    await asyncio.sleep(4)
    await lab.hangup_world(a)
    t.update(
        caller="2005",
        called="601",
        rang=["2003", "2004"],
        answered_by="2004",
        hangup_by="caller (2005)",
    )


CAPTURES = {
    f.__name__: f
    for f in (
        queue_local_members,
        ringgroup_local_n,
        ringgroup_local,
        ringgroup_noanswer,
        ringgroup_abandon,
        pickup_directed,
        pickup_group,
        transfer_attended,
        transfer_blonde,
        forward_noanswer,
        followme_external,
        acceptance_accept,
        acceptance_reject,
        queue_local_blind_transfer,
        ringgroup_blonde_transfer,
        ringgroup_internal,
        systemname_queue,
    )
}


SYSTEMNAME = "fpbx1"


async def with_systemname(lab: Any, kit_dir: Path) -> None:
    """Restart the center with `systemname` set. The kit owns asterisk.conf and has no option
    for it, so this edits the file `pbx start` wrote (DIR/center/etc/asterisk.conf) and runs
    `core restart now`, which re-reads it; the next `pbx start` writes the file afresh."""
    conf = kit_dir / "center" / "etc" / "asterisk.conf"
    text = conf.read_text()
    if f"systemname = {SYSTEMNAME}" in text:
        return
    conf.write_text(text.replace("[options]\n", f"[options]\nsystemname = {SYSTEMNAME}\n", 1))
    with contextlib.suppress(TimeoutError, ConnectionError):
        await lab.center.send("Command", Command="core restart now", timeout=3)
    await asyncio.sleep(2)
    deadline = time.monotonic() + 60
    while True:
        try:
            lab.center = sc.Ami("center")
            await lab.open_center()
            break
        except (OSError, SystemExit, asyncio.IncompleteReadError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)


async def run(kit_dir: Path, names: list[str]) -> None:
    lab = sc.Lab(kit_dir)
    await lab.open()
    for name in names:
        if name == "systemname_queue":
            await with_systemname(lab, kit_dir)
        await quiet(lab)
        rec = Rec(kit_dir, name)
        await asyncio.sleep(1.5)
        truth: dict[str, Any] = {"capture": name, "started": sc.now()}
        try:
            await CAPTURES[name](lab, truth)
            await quiet(lab)
            await asyncio.sleep(1.5)
        finally:
            rec.stop()
        truth["ended"] = sc.now()
        print(json.dumps(truth, ensure_ascii=False), flush=True)


def index(path: Path) -> None:
    """Print each event of a capture with its number and the headers that matter."""
    keys = (
        "Channel",
        "DestChannel",
        "Context",
        "Exten",
        "ChannelStateDesc",
        "DialStatus",
        "DialString",
        "BridgeUniqueid",
        "Cause",
        "TransfererChannel",
        "TransfereeChannel",
        "TransferTargetChannel",
        "DestType",
        "Result",
        "Interface",
        "Queue",
        "LocalOneChannel",
        "TargetChannel",
        "SwapUniqueid",
        "Uniqueid",
        "Linkedid",
    )
    skip = {
        "VarSet",
        "Newexten",
        "CEL",
        "Cdr",
        "RTCPSent",
        "RTCPReceived",
        "DeviceStateChange",
        "ExtensionStatus",
        "PresenceStateChange",
        "QueueMemberStatus",
    }
    blocks = path.read_bytes().decode("utf-8", "replace").split("\r\n\r\n")
    n = -1
    for b in blocks:
        h = dict(line.split(": ", 1) for line in b.split("\r\n") if ": " in line)
        if "Event" not in h:
            continue
        n += 1
        if h["Event"] in skip:
            continue
        shown = " ".join(f"{k}={h[k]}" for k in keys if h.get(k))
        print(f"#{n} {h['Event']} {re.sub(r'Linkedid=', 'L=', shown)}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "index":
        index(Path(sys.argv[2]))
        return
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    names = list(CAPTURES) if sys.argv[2:] == ["all"] else sys.argv[2:]
    unknown = [n for n in names if n not in CAPTURES]
    if unknown:
        raise SystemExit(f"unknown capture(s) {unknown}; known: {', '.join(CAPTURES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(Path(sys.argv[1]).resolve(), names))


if __name__ == "__main__":
    main()
