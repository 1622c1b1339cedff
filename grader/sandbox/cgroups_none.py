"""The sandbox's limits where no cgroup can be written (containers, Gradescope, a laptop user):
per-process rlimits set by ``sandbox_exec`` plus this guard, which watches the kernel's whole
PID namespace from the grader's side.

Why a guard: rlimits bind each process alone (``RLIMIT_DATA`` per process), so a memory bomb
split over many processes passes them. Every few tenths of a second the guard sums the resident
memory of every process in the sandbox's PID namespace; past the limit it kills the largest one,
as the kernel's OOM killer would, and records the hit. It also records when the tree reached
its task limit (``RLIMIT_NPROC`` refuses the fork itself) and ends the whole tree at the end by
killing the namespace's init. What it cannot promise: an allocation faster than one poll can
overshoot the memory limit until the next poll (each process stays under ``RLIMIT_DATA``).

With systemd user delegation (``systemd-run --user --scope``) the limits are the scope's cgroup
v2 limits; the guard then also reads that scope's ``memory.events`` and ``pids.events``.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from grader.sandbox import cgroups_v2

POLL_SECONDS = 0.2
PAGE = os.sysconf("SC_PAGE_SIZE")


class Guard:
    """The no-cgroup counterpart of ``cgroups.Group``: found through bwrap's ``--info-fd`` file."""

    name = ""

    def __init__(self, info_file: Path, memory_bytes: int, max_pids: int, scope: bool = False,
                 watch_dir: tuple[Path, int] | None = None) -> None:
        """``watch_dir``: a host dir the sandbox may write (rootless) and its size limit."""
        self.info_file = info_file
        self.memory_bytes, self.max_pids, self.scope = memory_bytes, max_pids, scope
        self.watch_dir = watch_dir
        self.memory_hit = self.pids_hit = self.disk_hit = False
        self.cpu = 0.0
        self._init_pid: int | None = None
        self._ns: str | None = None
        self._scope_group: cgroups_v2.Group | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="sandbox-guard")
        self._thread.start()

    def procs_files(self) -> list[str]:
        return []

    def pids(self) -> set[int]:
        return set(self._processes())

    def memory_exceeded(self) -> bool:
        group = self._scope()
        return self.memory_hit or bool(group and group.memory_exceeded())

    def pids_exceeded(self) -> bool:
        group = self._scope()
        return self.pids_hit or bool(group and group.pids_exceeded())

    def refused_forks(self) -> int:
        """The scope's refused forks (0 without a scope: the namespace's count of tasks tells
        a notebook at its limit, not one whose forks keep being refused)."""
        group = self._scope()
        return group.refused_forks() if group else 0

    def cpu_seconds(self) -> float:
        return self.cpu

    def kill(self, timeout: float = 10.0) -> bool:
        """SIGKILL the namespace's init: the kernel then kills every process in it."""
        deadline = time.monotonic() + timeout
        while procs := self._processes():
            if time.monotonic() > deadline:
                return False
            for pid in filter(None, [self._init_pid, *procs]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        return True

    def remove(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.kill(timeout)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._check()
            except OSError:
                pass

    def _check(self) -> None:
        usage = {}
        tasks = 0
        cpu = 0.0
        for pid in self._processes():
            try:
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError, ValueError):
                continue
            usage[pid] = rss
            tasks += int(stat[17])  # num_threads: RLIMIT_NPROC counts threads too
            cpu += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        self.cpu = max(self.cpu, cpu)
        scope = self._scope()  # read while it lives: an empty scope is removed by systemd
        if scope is not None:
            self.memory_hit |= scope.memory_exceeded()
            self.pids_hit |= scope.pids_exceeded()
        if self.watch_dir and _size(self.watch_dir[0]) > self.watch_dir[1]:
            self.disk_hit = True
            self.kill(timeout=1.0)
        if tasks >= self.max_pids - 1:  # RLIMIT_NPROC in the namespace refuses the next fork
            self.pids_hit = True
        while usage and sum(usage.values()) > self.memory_bytes:
            largest = max(usage, key=usage.__getitem__)
            self.memory_hit = True
            try:
                os.kill(largest, signal.SIGKILL)
            except OSError:
                pass
            del usage[largest]

    def _namespace(self) -> str | None:
        """The PID namespace bwrap created, once its info file names the sandbox's init."""
        if self._ns is None:
            try:
                self._init_pid = int(json.loads(self.info_file.read_text())["child-pid"])
                self._ns = os.readlink(f"/proc/{self._init_pid}/ns/pid")
            except (OSError, ValueError, KeyError, TypeError):
                return None
        return self._ns

    def _processes(self) -> list[int]:
        namespace = self._namespace()
        if namespace is None:
            return []
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.readlink(f"/proc/{name}/ns/pid") == namespace:
                        found.append(int(name))
                except OSError:
                    pass
        return found

    def _scope(self) -> cgroups_v2.Group | None:
        """The systemd scope's group, read from the init's /proc entry (systemd level only)."""
        if self.scope and self._scope_group is None and self._namespace() is not None:
            path = cgroups_v2.own_cgroup(proc_self=Path(f"/proc/{self._init_pid}/cgroup"))
            self._scope_group = cgroups_v2.Group(path) if path else None
        return self._scope_group


def _size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links not followed)."""
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total

