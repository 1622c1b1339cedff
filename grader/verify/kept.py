"""Cross-check workers kept between gradings of one process, inside ``kept()``.

Without a verifier (``--no-verify``) each ``Grader`` starts a worker for the cross-check alone
and stops it when it closes: one TensorFlow import (~2.7 s of CPU) per ``api.check``. A program
that grades many notebooks one ``check`` at a time (the test suite, a notebook of an
instructor's, a service) can keep one worker per set of settings for the length of a block:

    with kept():
        for path in notebooks:
            api.check(path, settings=settings)

A worker serves every ``settings`` that give it the same environment (its memory limit and
threads; the timeouts are the caller's, per job). Only the cross-check's worker is kept: it
holds no state between jobs (each job carries the model's description, its weights and the
probe; the worker clears Keras's session first), as a batch worker's verifier already serves
one submission after another. The verification
training's workers are not (their memo and limits belong to their ``Verifier``). Outside a
``kept()`` block nothing changes: the worker stops with its ``Grader``, and no process outlives
a grading.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grader.settings import Settings

#: workers kept at once (each holds TensorFlow, ~0.3 GiB): the least recently used one stops
MAX_KEPT = 2

_lock = threading.Lock()
#: the worker's environment (all a worker depends on) -> the worker kept for it, most recently
#: used last; None outside every ``kept()`` block
_kept: dict[str, Any] | None = None


@contextmanager
def kept() -> Iterator[None]:
    """Keep cross-check workers for reuse until the outermost block ends (then stop them)."""
    global _kept
    with _lock:
        outermost = _kept is None
        if outermost:
            _kept = {}
    try:
        yield
    finally:
        if outermost:
            with _lock:
                workers, _kept = list((_kept or {}).values()), None
            for worker in workers:
                worker.close()


def checker(settings: Settings) -> Any:
    """A started cross-check worker for ``settings``: the kept one when inside ``kept()``."""
    from grader.verify.process import worker_env
    from grader.verify.verifier import Verifier

    retired = []
    with _lock:
        if _kept is None:
            return Verifier(settings).start()
        key = repr(sorted(worker_env(settings).items()))
        found = _kept.pop(key, None) or Verifier(settings)
        _kept[key] = found  # the most recently used, last
        while len(_kept) > MAX_KEPT:
            retired.append(_kept.pop(next(iter(_kept))))
    for worker in retired:
        worker.close()
    return found.start()  # again, if it died


def release(worker: Any) -> None:
    """Done with ``worker``: stop it unless a ``kept()`` block keeps it."""
    with _lock:
        if _kept is not None and any(worker is w for w in _kept.values()):
            return
    worker.close()


def pids() -> set[int]:
    """The process ids of the workers kept now (a test's "no process left behind" excepts
    them: they belong to the block, not to one grading)."""
    with _lock:
        workers = list((_kept or {}).values())
    return {w.pid for w in workers if w.pid is not None}
