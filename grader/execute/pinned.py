"""A kernel pinned at its process limit is stopped at once, not at the cell's time limit.

A fork bomb in the sandbox fills its process limit in milliseconds, and then every one of its
processes spins on a refused ``fork`` until the cell times out: minutes of every core of the
machine, taken from the gradings beside it in a batch (whose own time limits then run out: a
verdict that is not their work). The sandbox's cgroup counts refused forks (``pids.events``;
the rootless levels without one cannot tell, and keep to the time limit). A notebook is
stopped when its refusals grew at every poll of a whole ``WINDOW``, by at least ``MIN_RATE`` a
second (a spinning bomb is refused thousands of times a second; a loop that retries a refused
fork after a pause, or a fork refused once and handled, stays far below), and reported as over
the process limit (``grader.sandbox.limits``) as it would have been at the timeout. A poll that
came late (a busy machine, the event loop held up) starts the window again: the rule is judged
only on readings that are ``POLL`` apart.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import time
import typing as t

#: seconds between two reads of the refusal count (a file read each)
POLL = 0.25
#: seconds over which refusals must keep growing (at every poll) before the kernel is stopped
WINDOW = 1.0
#: refused forks a second, at the least, over the window
MIN_RATE = 100.0
#: a reading later than this many polls after the one before starts the window again
LATE = 2.0


def pinned(history: list[tuple[float, int]], window: float = WINDOW, poll: float = POLL,
           min_rate: float = MIN_RATE) -> bool:
    """Whether the readings in ``history`` ((time, refusals so far), oldest first, none late)
    span ``window`` in at least ``window / poll`` steps, grew at every step, and by at least
    ``min_rate`` a second over the whole."""
    steps = len(history) - 1
    if steps < max(1, math.ceil(window / poll - 1e-9)):
        return False
    span = history[-1][0] - history[0][0]
    if span < window:
        return False
    if any(later[1] <= earlier[1] for earlier, later in itertools.pairwise(history)):
        return False
    return (history[-1][1] - history[0][1]) / span >= min_rate


async def stop_when_pinned(refusals: t.Callable[[], int], stop: t.Callable[[], t.Awaitable[None]],
                           poll: float = POLL, window: float = WINDOW,
                           min_rate: float = MIN_RATE) -> bool:
    """Poll ``refusals()`` until ``pinned``, then await ``stop()`` and return True; runs until
    cancelled otherwise."""
    history: list[tuple[float, int]] = []
    while True:
        await asyncio.sleep(poll)
        now = time.monotonic()
        if history and now - history[-1][0] > LATE * poll:
            history.clear()  # a late reading: the steps before it are not judged with it
        history.append((now, refusals()))
        while len(history) > 2 and now - history[1][0] >= window:
            history.pop(0)  # keep just one reading older than the window
        if pinned(history, window, poll, min_rate):
            await stop()
            return True
