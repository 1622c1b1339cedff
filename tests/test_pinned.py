"""When a kernel counts as pinned at its process limit (``grader.execute.pinned``): only
refusals that grow at every poll for a whole window; one refusal, or a pause, is not."""
from __future__ import annotations

import asyncio

from grader.execute.pinned import pinned, stop_when_pinned


def test_refusals_growing_at_every_poll_for_the_window_are_pinned():
    assert pinned([(0.0, 3), (0.5, 90), (1.0, 400)], window=1.0)


def test_one_refusal_handled_then_no_more_is_not_pinned():
    assert not pinned([(0.0, 1), (0.5, 1), (1.0, 1)], window=1.0)


def test_a_pause_in_the_refusals_is_not_pinned_nor_is_a_short_history():
    assert not pinned([(0.0, 3), (0.5, 3), (1.0, 400)], window=1.0)
    assert not pinned([(0.0, 3), (0.5, 90)], window=1.0)
    assert not pinned([(0.0, 3)], window=0.0)


def test_the_watch_stops_the_kernel_once_the_refusals_keep_growing():
    count = iter(range(0, 10_000, 7))
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    assert asyncio.run(asyncio.wait_for(
        stop_when_pinned(lambda: next(count), stop, poll=0.01, window=0.05), 10))
    assert stopped == [True]


def test_the_watch_never_stops_a_kernel_whose_refusals_stay_put():
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    async def watch_a_while() -> None:
        task = asyncio.ensure_future(stop_when_pinned(lambda: 5, stop, poll=0.01, window=0.05))
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(watch_a_while())
    assert stopped == []
