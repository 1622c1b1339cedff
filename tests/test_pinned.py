"""When a kernel counts as pinned at its process limit (``grader.execute.pinned``): only
refusals that grow fast at every poll of a whole window; one refusal, a pause, a slow retry
loop, or readings too far apart are not."""
from __future__ import annotations

import asyncio

from grader.execute.pinned import pinned, stop_when_pinned


def readings(*counts: int, every: float = 0.25) -> list[tuple[float, int]]:
    return [(i * every, c) for i, c in enumerate(counts)]


def test_refusals_growing_fast_at_every_poll_for_the_window_are_pinned():
    assert pinned(readings(3, 900, 1800, 2700, 3600))


def test_one_refusal_handled_then_no_more_is_not_pinned():
    assert not pinned(readings(1, 1, 1, 1, 1))


def test_a_pause_in_the_refusals_is_not_pinned_nor_is_a_short_history():
    assert not pinned(readings(3, 900, 900, 2700, 3600))
    assert not pinned(readings(3, 900, 1800))


def test_a_loop_that_retries_a_refused_fork_after_a_pause_is_not_pinned():
    """Ten refusals a second, growing at every poll: far below a bomb's rate."""
    assert not pinned(readings(3, 6, 8, 11, 13))


def test_two_readings_a_window_apart_are_not_enough():
    """A poll that came a second late (a busy machine) is one step, not the window's four."""
    assert not pinned([(0.0, 3), (1.2, 4000)])


def test_the_watch_stops_the_kernel_once_the_refusals_keep_growing():
    count = iter(range(0, 10**9, 700))
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    assert asyncio.run(asyncio.wait_for(
        stop_when_pinned(lambda: next(count), stop, poll=0.05, window=0.2), 30))
    assert stopped == [True]


def watch_for(seconds: float, refusals, **rule: float) -> list[bool]:
    """Whether the watch (polling every 10 ms over a 50 ms window) stopped the kernel within
    ``seconds``."""
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    async def watch_a_while() -> None:
        task = asyncio.ensure_future(stop_when_pinned(refusals, stop, poll=0.01, window=0.05,
                                                      **rule))
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(watch_a_while())
    return stopped


def test_the_watch_never_stops_a_kernel_whose_refusals_stay_put():
    assert watch_for(0.5, lambda: 5) == []


def test_the_watch_never_stops_a_kernel_refused_slowly_at_every_poll():
    """One more refusal at every poll (~100 a second at this poll) is below a 1,000-a-second
    floor: the rate, not only the growth, decides."""
    count = iter(range(10**9))
    assert watch_for(0.5, lambda: next(count), min_rate=1000) == []
