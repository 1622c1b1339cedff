"""This grader process's zygotes (``grader.sandbox.zygote``), one per command and environment,
kept for the process's life, and the ones it shares with the processes it starts.

A batch's coordinator starts its workers' zygotes ahead (``start_ahead``) while the workers
start, and hands each worker their descriptions (``Shared``), which it ``adopt``s: the workers
fork their kernels and verification workers from the coordinator's zygotes, and a batch of any
size imports TensorFlow once per zygote, not once per worker. An adopted zygote that is gone (or
never came up) is dropped, and the worker starts those processes as children.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from grader.sandbox.forked import ForkedProcess
from grader.sandbox.zygote import (
    SharedZygote,
    Zygote,
    ZygoteError,
    _ours,
    kernel_command,
    remove_stale,
)

#: zygotes kept at once per command (one per environment: settings such as ``tf_threads``
#: differ); the oldest goes (what it forked lives on)
MAX_ZYGOTES = 2
#: variables that name one process's own folders or parent: not part of what a zygote imported
#: under, so not part of its key (a forked child gets its own, and computes its temporary folder
#: afresh: ``zygote_server.enter``)
PER_PROCESS = frozenset({"TMPDIR", "JPY_PARENT_PID"})
#: and, of a kernel, its own home (the kernel zygote imports under a home of its own)
PER_KERNEL = frozenset({"HOME", "MPLCONFIGDIR"})

EnvKey = tuple[tuple[str, str], ...]
Key = tuple[tuple[str, ...], EnvKey]
_lock = threading.Lock()
_zygotes: dict[Key, Zygote] = {}
_failed: set[Key] = set()
#: how often ``ready_now`` found no zygote, by key
_asked: dict[Key, int] = {}
_owner = os.getpid()


@dataclass(frozen=True)
class Shared:
    """A zygote of this grader for a process it starts: plain data (a batch's ``WorkerConfig``
    carries it to a spawned worker)."""

    command: tuple[str, ...]
    env: EnvKey
    folder: str


def zygote_for(env: dict[str, str], command: tuple[str, ...] | None = None) -> Zygote | None:
    """The zygote of this command (the kernels' by default) and environment, started on first
    use and kept until exit; None where it could not start (then not tried again in this
    process)."""
    command = command or kernel_command()
    key = (command, _key(env, command))
    for _ in range(2):  # one closed by another thread while it started: once more
        with _lock:
            _reset_if_forked()
            if key in _failed:
                return None
            found = _registered(key, env)
        if found.started():
            return found
        with _lock:
            if _zygotes.get(key) is found:
                del _zygotes[key]
            if found.failed:  # not closed by another thread (evicted, discarded): that is retried
                _failed.add(key)  # a shared one too: children from now on, none of our own
                return None
    return None


def _registered(key: Key, env: dict[str, str]) -> Zygote:
    """The registered zygote of ``key`` that is alive, else a new one, registered (not yet
    started). Called under ``_lock``."""
    found = _zygotes.get(key)
    if found is None or not found.alive():
        if found is not None:  # it died (killed): its folder goes now
            found.close()
        remove_stale()
        found = _zygotes[key] = Zygote(env, key[0], own_home=key[0] == kernel_command())
        same = [k for k in _zygotes if k[0] == key[0]]
        for old in same[:-MAX_ZYGOTES]:
            _zygotes.pop(old).close()
    return found


def start_ahead(wanted: Iterable[tuple[dict[str, str], tuple[str, ...] | None]]) -> list[Shared]:
    """Start the zygotes of these environments and commands in the background (unless running)
    and describe them at once, for processes this one is about to start (``adopt``). Linux
    only, as ``fork``: elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return []
    shared = []
    for env, command in wanted:
        command = command or kernel_command()
        key = (command, _key(env, command))
        with _lock:
            _reset_if_forked()
            if key in _failed:
                continue
            found = _registered(key, env)
        threading.Thread(target=zygote_for, args=(env, command), daemon=True).start()
        shared.append(Shared(command, key[1], str(found.folder)))
    return shared


def adopt(shared: Iterable[Shared]) -> None:
    """Fork from these zygotes of another process of this grader (``start_ahead``)."""
    with _lock:
        _reset_if_forked()
        for one in shared:
            _zygotes.setdefault((tuple(one.command), tuple(map(tuple, one.env))),  # type: ignore[arg-type]
                                SharedZygote(tuple(one.command), one.folder))


def fork(env: dict[str, str], cwd: str, fds: list[int], args: list[str] | None = None,
         command: tuple[str, ...] | None = None, wait: bool = True,
         join: dict | None = None) -> ForkedProcess | None:
    """A process forked by the zygote of ``command`` and ``env`` (see ``Zygote.fork``); None
    where none can (the caller starts a child). ``wait``: start the zygote (or wait for it to
    start) first; else fork only from one that can fork now (``ready_now``). Linux only:
    elsewhere forking a process that has loaded TensorFlow and the platform's numerical
    libraries is unsafe (macOS) or impossible (Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    for _ in range(3):  # a zygote that died (killed, out of memory) is started once more
        zygote = zygote_for(env, command) if wait else ready_now(env, command)
        if zygote is None:
            return None
        try:
            return zygote.fork(list(args or []), env, cwd, fds, join)
        except ZygoteError:
            discard(zygote)
    return None


def ready_now(env: dict[str, str], command: tuple[str, ...] | None = None) -> Zygote | None:
    """The zygote of this command and environment if it can fork now, without waiting; None
    while it starts (its owner's, or this process's in the background), and None the first time
    this process asks for one that is not there. From the second time, it is started in the
    background for the next requests. For processes whose start should overlap other work (a
    verification worker starts beside the notebook's run): a first one starts as a child at
    once, as fast as a zygote's own start, and a process that needs one only pays no zygote."""
    command = command or kernel_command()
    key = (command, _key(env, command))
    with _lock:
        _reset_if_forked()
        if key in _failed:
            return None
        found = _zygotes.get(key)
        if isinstance(found, SharedZygote) and found.ready is None:
            if os.path.exists(found.socket_path) or not _ours(found.folder):
                found.started()  # at once: it listens, or its folder is not there (gone)
            if found.ready is None:
                return None  # its owner starts it
        if found is not None and found.ready and found.alive():
            return found
        if found is not None and found.ready is None:
            return None  # this process starts it in the background
        if isinstance(found, SharedZygote):  # gone: children from now on, no zygote of ours
            del _zygotes[key]
            _failed.add(key)
            return None
        if found is not None:  # gone, or failed: not ours to wait for any more
            del _zygotes[key]
        _asked[key] = _asked.get(key, 0) + 1
        if _asked[key] < 2:
            return None
        _registered(key, env)  # starting: the next requests do not start another
    threading.Thread(target=zygote_for, args=(env, command), daemon=True).start()
    return None


def adopted(env: dict[str, str], command: tuple[str, ...] | None = None) -> bool:
    """Whether the zygote of this command and environment is another process's (``adopt``),
    and not failed: worth waiting for while it starts."""
    command = command or kernel_command()
    key = (command, _key(env, command))
    with _lock:
        _reset_if_forked()
        return key not in _failed and isinstance(_zygotes.get(key), SharedZygote)


def pids() -> set[int]:
    """The process ids of this process's own zygotes (a test's "no process left behind" excepts
    them: they belong to the grader's whole life, not to one grading)."""
    with _lock:
        return {z.process.pid for z in _zygotes.values() if z.process is not None}


def discard(zygote: Zygote) -> None:
    """Drop a zygote that failed to answer (and stop it, if it is ours); the next request starts
    a new one of this process's, but for a shared one: then children (its owner's machine may
    have run out of memory, and each worker starting one would make that worse)."""
    with _lock:
        for key, value in list(_zygotes.items()):
            if value is zygote:
                del _zygotes[key]
                if isinstance(zygote, SharedZygote):
                    _failed.add(key)
    zygote.close()


def _key(env: dict[str, str], command: tuple[str, ...] | None = None) -> EnvKey:
    """What a zygote's imports may have depended on: the environment but for one process's own
    folders and parent (``command``: the zygote's, the kernels' by default)."""
    kernel = command is None or command == kernel_command()
    own = PER_PROCESS | PER_KERNEL if kernel else PER_PROCESS
    return tuple(sorted((k, v) for k, v in env.items() if k not in own))


def _reset_if_forked() -> None:
    """A forked grader: its parent's zygotes are not its own. Called under ``_lock``."""
    global _owner
    if _owner != os.getpid():
        _zygotes.clear()
        _failed.clear()
        _asked.clear()
        _owner = os.getpid()


@atexit.register
def close_all() -> None:
    """Stop this process's zygotes (at exit; tests call it to start afresh)."""
    with _lock:
        if _owner == os.getpid():
            for zygote in _zygotes.values():
                zygote.close()
        _zygotes.clear()
        _asked.clear()


@contextmanager
def set_aside() -> Iterator[None]:
    """Within the block, this process has no zygote but those it starts there, which are stopped
    at its end; the earlier ones are kept running meanwhile and given back (tests that watch a
    zygote start or fail, without paying another TensorFlow import for the rest)."""
    with _lock:
        _reset_if_forked()
        aside = (dict(_zygotes), set(_failed), dict(_asked))
        _zygotes.clear()
        _failed.clear()
        _asked.clear()
    try:
        yield
    finally:
        close_all()
        with _lock:
            _zygotes.update(aside[0])
            _failed.clear()
            _failed.update(aside[1])
            _asked.update(aside[2])
