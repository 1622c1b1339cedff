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
one submission after another. The verification training's workers are not (their memo and
limits belong to their ``Verifier``). Outside a ``kept()`` block nothing changes: the worker
stops with its ``Grader``, and no process outlives a grading.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grader.settings import Settings

#: workers kept at once (each holds TensorFlow, ~0.3 GiB): the least recently used one goes
MAX_KEPT = 2

_lock = threading.Lock()
#: the worker's environment (all a worker depends on) -> the worker kept for it, most recently
#: used last; None outside every ``kept()`` block
_kept: dict[str, Any] | None = None
#: id(worker) -> the gradings using it now: a worker serves one grading at a time, and one
#: retired or left behind by its block while in use stops when its grading releases it
_uses: dict[int, int] = {}


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
                idle = [w for w in workers if not _uses.get(id(w))]
            for worker in idle:
                worker.close()


def checker(settings: Settings) -> Any:
    """A started cross-check worker for ``settings``, the caller's alone until ``release``:
    the kept one when inside ``kept()`` and no other grading is using it."""
    from grader.verify.process import worker_env
    from grader.verify.verifier import Verifier

    retired = []
    with _lock:
        key = repr(sorted(worker_env(settings).items()))
        found: Any = _kept.get(key) if _kept is not None else None
        if found is None or _uses.get(id(found)):  # none kept, or busy: one of its own
            found = Verifier(settings)
            if _kept is not None:
                _kept.setdefault(key, found)
        if _kept is not None and _kept.get(key) is found:
            _kept[key] = _kept.pop(key)  # the most recently used, last
            while len(_kept) > MAX_KEPT:
                victim = _kept.pop(next(iter(_kept)))
                if not _uses.get(id(victim)):
                    retired.append(victim)  # one in use stops at its release
        _uses[id(found)] = _uses.get(id(found), 0) + 1
    for worker in retired:
        worker.close()
    return found.start()  # again, if it died; no other grading holds it


def release(worker: Any) -> None:
    """Done with ``worker``: stop it unless a ``kept()`` block keeps it."""
    with _lock:
        count = _uses.pop(id(worker), 0) - 1
        if count > 0:
            _uses[id(worker)] = count
            return
        if _kept is not None and any(worker is w for w in _kept.values()):
            return
    worker.close()


def pids() -> set[int]:
    """The process ids of the workers kept now, with their supervisors (a test's "no process
    left behind" excepts them: they belong to the block, not to one grading)."""
    with _lock:
        workers = list((_kept or {}).values())
    return {pid for worker in workers for pid in worker.pids}
