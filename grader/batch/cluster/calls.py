"""Calls to a Dask cluster with an explicit limit each: a scheduler or worker that does not
answer becomes a ``GraderError`` naming what was asked, never a hang (``dask_executor``)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from grader.exceptions import GraderError

if TYPE_CHECKING:
    from distributed import Client


def bounded(call: Callable[[], Any], seconds: float, what: str) -> Any:
    """``call()`` within ``seconds``, else a ``GraderError`` naming ``what`` timed out."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="grader-dask-call")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise GraderError(f"the Dask cluster did not answer within {seconds:g} s ({what})")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def connect_timeout() -> float:
    """Dask's limit for connecting to a worker (``distributed.comm.timeouts.connect``), in s."""
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s") or 0)


def wait_gone(client: Client, addresses: set[str], seconds: float) -> None:
    """Until the scheduler lists none of ``addresses`` (refused workers close themselves), at
    most ``seconds``: the next broadcast then need not wait for one that is closing (a second
    admission of the same run met one on a busy machine and timed out)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        info = bounded(client.scheduler_info, max(left, 1.0), "asking the scheduler")
        if not addresses & set(info.get("workers", {})):
            return
        time.sleep(0.2)
