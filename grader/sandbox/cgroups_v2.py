"""cgroup v2 groups for one sandboxed kernel: the same job as ``cgroups`` (v1) on the unified
hierarchy, which is all that Debian >= 11, Ubuntu >= 21.10, Fedora/RHEL, GitHub Actions runners,
Docker Desktop and WSL2 offer.

v2 only lets a process create limited child groups in a subtree delegated to it: the grader's
own cgroup when it is writable and its parent enables ``memory`` and ``pids`` for it (root in a
container with a private cgroup namespace, or a ``systemd-run --scope -p Delegate=yes``). v2's
"no internal processes" rule forbids processes beside limited children, so the grader first
moves itself into a leaf ``grader-<pid>-self`` and then enables the controllers below its group.

Everything takes the hierarchy's root as an argument, so the unit tests drive this code against a
fake cgroupfs (plain files in a temp dir). NOT verified on a real v2 host: the development
machines have cgroup v1 (their cgroup2 mount has no memory or pids controller).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from grader.exceptions import SandboxUnavailable

ROOT = Path("/sys/fs/cgroup")
REQUIRED = ("memory", "pids")
PREFIX = "grader-"
NAME = re.compile(rf"^{PREFIX}(\d+)-(\w+)$")
CPU_PERIOD_US = 100_000


def own_cgroup(root: Path = ROOT, proc_self: Path = Path("/proc/self/cgroup")) -> Path | None:
    """The directory of this process's v2 group (the ``0::`` line), if the unified tree is here."""
    try:
        lines = proc_self.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            for mount in (root, root / "unified"):  # unified, or hybrid (v2 beside v1)
                path = mount / line[3:].lstrip("/")
                if (path / "cgroup.procs").is_file():
                    return path
    return None


def missing(base: Path | None) -> str | None:
    """Why ``base`` cannot hold limited groups, or ``None`` when it can."""
    if base is None:
        return "no cgroup v2 hierarchy at /sys/fs/cgroup (or this process is not in it)"
    available = _words(base / "cgroup.controllers")
    absent = [c for c in REQUIRED if c not in available]
    if absent:
        return (f"the cgroup v2 group {base} does not offer the {' and '.join(absent)} "
                "controller (not delegated to it)")
    if not os.access(base, os.W_OK) or not os.access(base / "cgroup.subtree_control", os.W_OK):
        return f"the cgroup v2 group {base} is not writable by this user (not delegated)"
    return None


def prepare(base: Path) -> None:
    """Move the grader out of ``base`` into a leaf and enable memory and pids for children."""
    enabled = _words(base / "cgroup.subtree_control")
    if all(c in enabled for c in REQUIRED):
        return
    leaf = base / f"{PREFIX}{os.getpid()}-self"
    leaf.mkdir(exist_ok=True)
    for pid in _words(base / "cgroup.procs"):  # all of them: the rule is per group
        try:
            (leaf / "cgroup.procs").write_text(pid)
        except OSError:
            pass  # exited meanwhile, or a kernel thread
    try:
        (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in REQUIRED))
    except OSError as exc:
        raise SandboxUnavailable(f"cannot enable memory and pids in {base}: {exc}") from None


def remove_stale(base: Path) -> None:
    """Remove the groups that graders killed outright left under ``base`` (their pid is gone;
    an empty group is removed, one with processes left alone, as for v1)."""
    from grader.sandbox.cgroups import remove_stale_groups

    remove_stale_groups(base)


class Group:
    """One v2 group; the same interface as ``cgroups.Group`` (v1)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    @classmethod
    def create(cls, base: Path, tag: str, memory_bytes: int, max_pids: int,
               cpus: float = 0.0) -> Group:
        """A new group ``grader-<pid>-<tag>`` under ``base`` (prepared), with its limits."""
        group = cls(base / f"{PREFIX}{os.getpid()}-{tag}")
        try:
            group.path.mkdir()
            group._write("memory.max", memory_bytes)
            group._write("memory.swap.max", 0, optional=True)  # no swap: a bomb ends quickly
            group._write("pids.max", max_pids)
            if cpus > 0:
                group._write("cpu.max", f"{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}", optional=True)
        except OSError as exc:
            group.remove(timeout=0.5)
            raise SandboxUnavailable(f"cannot set up cgroup {group.path}: {exc}") from None
        return group

    def procs_files(self) -> list[str]:
        return [str(self.path / "cgroup.procs")]

    def pids(self) -> set[int]:
        return {int(p) for p in _words(self.path / "cgroup.procs") if p.isdigit()}

    def memory_exceeded(self) -> bool:
        """``oom_kill`` in memory.events: the kernel killed a process of this group."""
        return self._event("memory.events", "oom_kill") > 0

    def pids_exceeded(self) -> bool:
        return self.refused_forks() > 0

    def refused_forks(self) -> int:
        """Forks (and threads) refused at the process limit so far."""
        return self._event("pids.events", "max")

    def cpu_seconds(self) -> float:
        return self._event("cpu.stat", "usage_usec") / 1e6

    def kill(self, timeout: float = 10.0) -> bool:
        """``cgroup.kill`` ends every process at once, forks in flight included."""
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                return False
            if not self._write("cgroup.kill", 1, optional=True):  # kernels before 5.14
                for pid in self.pids():
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
            time.sleep(0.02)
        return True

    def remove(self, timeout: float = 5.0) -> None:
        self.kill(timeout)
        deadline = time.monotonic() + timeout
        while self.path.exists():
            try:
                self.path.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    def _event(self, name: str, key: str) -> int:
        try:
            text = (self.path / name).read_text()
        except OSError:
            return 0
        match = re.search(rf"^{key} (\d+)", text, re.M)
        return int(match.group(1)) if match else 0

    def _write(self, name: str, value: object, optional: bool = False) -> bool:
        try:
            (self.path / name).write_text(str(value))
            return True
        except OSError:
            if optional:
                return False
            raise


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []
