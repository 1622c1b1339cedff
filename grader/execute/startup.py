"""Waiting for a kernel to start by measured progress, not by a fixed clock.

On a busy machine (a batch, other users) a correct notebook's kernel can take longer than
``startup_timeout`` to import IPython and answer. Past that time the wait goes on while the
kernel's processes are alive and using CPU (they are still importing), up to
``STARTUP_CEILING`` times the timeout; a kernel that is idle past the timeout, or still not
answering at the ceiling, or that exits, has failed to start. The runner retries a failed
start once with a fresh sandbox, then reports ``kernel_start``: a limit of the machine, not
the student's fault and not a grader bug.
"""
from __future__ import annotations

import time
import typing as t

import psutil

#: the longest wait, as a multiple of ``startup_timeout``, while the kernel makes progress
STARTUP_CEILING = 3.0
#: how often progress is measured, in seconds
SLICE = 5.0
#: CPU seconds per slice that count as progress (an idle, blocked process uses ~0)
PROGRESS = 0.05


class StartFailed(Exception):
    """The kernel did not answer; ``reason`` says how, for the result's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU time used so far by ``pid`` and its descendants (None: it no longer exists)."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


async def wait_until_ready(kc: t.Any, timeout: float, cpu_seconds: t.Callable[[], float | None],
                           clock: t.Callable[[], float] = time.monotonic,
                           slice_s: float = SLICE) -> float:
    """Wait for ``kc``'s kernel to answer; return the seconds waited. Raise
    :class:`StartFailed` when it exits, stays idle past ``timeout``, or does not answer within
    ``STARTUP_CEILING × timeout``. ``cpu_seconds`` measures the kernel's progress."""
    start = clock()
    ceiling = start + STARTUP_CEILING * timeout
    last = cpu_seconds()
    while True:
        remaining = ceiling - clock()
        try:
            await kc.wait_for_ready(timeout=max(1.0, min(slice_s, remaining)))
            return clock() - start
        except RuntimeError as exc:
            if "died" in str(exc):
                raise StartFailed("the kernel exited before answering") from None
        now, used = clock(), cpu_seconds()
        if used is None:
            raise StartFailed("the kernel exited before answering")
        busy, last = last is not None and used - last >= PROGRESS, used
        if now >= ceiling:
            raise StartFailed(f"the kernel was still starting after {now - start:.0f} s "
                              f"(the longest wait while it makes progress)")
        if now >= start + timeout and not busy:
            raise StartFailed(f"the kernel did not answer within {timeout:g} s and made no "
                              "progress")
