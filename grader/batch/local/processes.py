"""Process control on this machine: kill a process tree, the worker stop signal, and how a
process ended, in words. Shared by the coordinator and the workers it spawns."""
from __future__ import annotations

import signal
import threading

import psutil

#: asks a worker to kill its kernel and exit; not SIGTERM, which nbclient handles itself (and
#: resets to the default) while a notebook runs
STOP_SIGNAL = signal.SIGUSR1


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """SIGKILL ``pid`` and every process under it (kernels run in their own sessions)."""
    try:
        root = psutil.Process(pid)
        if include_root:
            root.suspend()  # no new children between listing and killing
        procs = root.children(recursive=True) + ([root] if include_root else [])
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def how_it_ended(exitcode: int | None) -> str:
    """``signal SIGKILL`` or ``exit code 1``: what a fault result tells the instructor."""
    if exitcode is not None and exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def ignore_sigint():
    """A second Ctrl-C must not interrupt the clean-up of the first; returns the handler to
    put back (``None`` outside the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)
