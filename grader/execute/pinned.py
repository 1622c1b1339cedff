"""A kernel pinned at its process limit is stopped at once, not at the cell's time limit.

A fork bomb in the sandbox fills its process limit in milliseconds, and then every one of its
processes spins on a refused ``fork`` until the cell times out: minutes of every core of the
machine, taken from the gradings beside it in a batch (whose own time limits then run out: a
verdict that is not their work). The sandbox's cgroup counts refused forks (``pids.events``;
the rootless levels without one cannot tell, and keep to the time limit); a notebook whose
refusals keep growing for ``WINDOW`` seconds is stopped, and reported as over the process
limit (``grader.sandbox.limits``) as it would have been at the timeout. A refused fork that
the notebook handles stops nothing: only refusals that go on at every poll for a whole window
do.
"""
from __future__ import annotations

import asyncio
import itertools
import time
import typing as t

#: seconds between two reads of the refusal count (a file read each)
POLL = 0.25
#: seconds over which refusals must keep growing (at every poll) before the kernel is stopped
WINDOW = 1.0


def pinned(history: list[tuple[float, int]], window: float = WINDOW) -> bool:
    """Whether the counts in ``history`` ((time, refusals so far), oldest first) grew at
    every step of the last ``window`` seconds."""
    if len(history) < 2 or history[-1][0] - history[0][0] < window:
        return False
    return all(later[1] > earlier[1] for earlier, later in itertools.pairwise(history))


async def stop_when_pinned(refusals: t.Callable[[], int], stop: t.Callable[[], t.Awaitable[None]],
                           poll: float = POLL, window: float = WINDOW) -> bool:
    """Poll ``refusals()`` until the count has grown at every poll for ``window`` seconds,
    then await ``stop()`` and return True; runs until cancelled otherwise."""
    history: list[tuple[float, int]] = []
    while True:
        await asyncio.sleep(poll)
        now = time.monotonic()
        history.append((now, refusals()))
        while len(history) > 2 and now - history[1][0] >= window:
            history.pop(0)  # keep just one reading older than the window
        if pinned(history, window):
            await stop()
            return True
