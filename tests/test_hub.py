"""The hub never waits for a socket: slow ones are cut off, the others keep receiving."""

from __future__ import annotations

import asyncio
import json

from callcenter.live.hub import CLOSE_TRY_AGAIN_LATER, Hub


class FakeSocket:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.received: list[dict[str, object]] = []
        self.closed_with: int | None = None

    async def send_str(self, data: str) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.received.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed_with = code
        return True


async def test_only_subscribers_of_a_topic_receive_its_messages() -> None:
    hub = Hub()
    mine, other = FakeSocket(), FakeSocket()
    subs = [hub.subscribe(mine, ["agent:PJSIP/2001"]), hub.subscribe(other, ["agent:PJSIP/2002"])]
    tasks = [asyncio.create_task(hub.pump(s)) for s in subs]
    assert hub.publish("agent:PJSIP/2001", {"type": "ring", "name": "<b>x</b>"}) == 1
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert mine.received == [{"type": "ring", "name": "<b>x</b>"}]
    assert other.received == []
    for task in tasks:
        task.cancel()
    for sub in subs:
        hub.unsubscribe(sub)
    assert hub.subscribers == 0


async def test_a_slow_socket_is_closed_and_never_slows_the_others() -> None:
    hub = Hub(queue_size=4)
    slow, fast = FakeSocket(delay_s=10), FakeSocket()
    slow_sub = hub.subscribe(slow, ["supervisors"])
    fast_sub = hub.subscribe(fast, ["supervisors"])
    tasks = [asyncio.create_task(hub.pump(s)) for s in (slow_sub, fast_sub)]
    for n in range(20):
        hub.publish("supervisors", {"n": n})  # returns at once, whatever the sockets do
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert [m["n"] for m in fast.received] == list(range(20))
    assert slow_sub.overflowed
    assert hub.dropped_sockets == 1
    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)
    tasks[1].cancel()


async def test_an_overflowed_socket_is_closed_with_try_again_later() -> None:
    hub = Hub(queue_size=2)
    sock = FakeSocket()
    sub = hub.subscribe(sock, ["t"])
    for n in range(5):
        hub.publish("t", {"n": n})
    await asyncio.wait_for(hub.pump(sub), timeout=1)
    assert sock.closed_with == CLOSE_TRY_AGAIN_LATER
