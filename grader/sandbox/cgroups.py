"""cgroup v1 groups for one sandboxed kernel: limits for the whole process tree, and a reliable
way to kill every process in it (freeze, SIGKILL, thaw) whatever it forks or daemonizes.

Needs root and the v1 ``memory`` and ``pids`` controllers; ``freezer``, ``cpu`` and ``cpuacct``
are used when present. Group names carry the grader's pid and a tag (the sandbox uid), so
groups left behind by a grader that was killed outright can be recognised by the next one.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from grader.exceptions import SandboxUnavailable

ROOT = Path("/sys/fs/cgroup")
REQUIRED = ("memory", "pids")
OPTIONAL = ("freezer", "cpu", "cpuacct")
PREFIX = "grader-"
NAME = re.compile(rf"^{PREFIX}(\d+)-(\w+)$")
CPU_PERIOD_US = 100_000


def check() -> None:
    """Raise ``SandboxUnavailable`` unless the required v1 controllers are writable here."""
    for controller in REQUIRED:
        path = ROOT / controller
        if not (path / "cgroup.procs").is_file():
            raise SandboxUnavailable(f"no cgroup v1 '{controller}' controller at {path}")
        if not os.access(path, os.W_OK):
            raise SandboxUnavailable(f"the cgroup v1 '{controller}' controller is not writable "
                                     "(needs root)")


class Group:
    """The same-named group in every available controller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.paths = {c: ROOT / c / name for c in REQUIRED + OPTIONAL if (ROOT / c / "cgroup.procs").is_file()}

    @classmethod
    def create(cls, tag: str, memory_bytes: int, max_pids: int, cpus: float = 0.0) -> Group:
        """A new group ``grader-<pid>-<tag>``; ``tag`` must be unique among this grader's."""
        group = cls(f"{PREFIX}{os.getpid()}-{tag}")
        try:
            for path in group.paths.values():
                path.mkdir()
            group._write("memory", "memory.limit_in_bytes", memory_bytes)
            group._write("memory", "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            group._write("pids", "pids.max", max_pids)
            if cpus > 0:
                group._write("cpu", "cpu.cfs_period_us", CPU_PERIOD_US, optional=True)
                group._write("cpu", "cpu.cfs_quota_us", int(cpus * CPU_PERIOD_US), optional=True)
        except OSError as exc:
            group.remove()
            raise SandboxUnavailable(f"cannot set up cgroup {group.name}: {exc}") from None
        return group

    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join the group in every controller."""
        return [str(p / "cgroup.procs") for p in self.paths.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths.values():
            try:
                found.update(int(x) for x in (path / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return found

    def memory_exceeded(self) -> bool:
        """True once the OOM killer has killed a process of this group."""
        text = self._read("memory", "memory.oom_control")
        match = re.search(r"^oom_kill (\d+)", text, re.M)
        return bool(match and int(match.group(1)) > 0)

    def pids_exceeded(self) -> bool:
        return self.refused_forks() > 0

    def refused_forks(self) -> int:
        """Forks (and threads) refused at the process limit so far."""
        match = re.search(r"^max (\d+)", self._read("pids", "pids.events"), re.M)
        return int(match.group(1)) if match else 0

    def cpu_seconds(self) -> float:
        text = self._read("cpuacct", "cpuacct.usage")
        return int(text) / 1e9 if text.strip().isdigit() else 0.0

    def kill(self, timeout: float = 10.0) -> bool:
        """SIGKILL every process; frozen first so that nothing forks meanwhile. True if empty."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            frozen = self._freeze()
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                self._write("freezer", "freezer.state", "THAWED", optional=True)
            time.sleep(0.02)

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left and delete the group from every controller."""
        self.kill(timeout)
        deadline = time.monotonic() + timeout
        for path in self.paths.values():
            while path.exists():
                try:
                    path.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)

    def _freeze(self) -> bool:
        if "freezer" not in self.paths or not self._write("freezer", "freezer.state", "FROZEN",
                                                          optional=True):
            return False
        deadline = time.monotonic() + 1.0
        while self._read("freezer", "freezer.state").strip() != "FROZEN":
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return True

    def _write(self, controller: str, name: str, value: object, optional: bool = False) -> bool:
        path = self.paths.get(controller)
        try:
            if path is None:
                raise FileNotFoundError(f"no {controller} controller")
            (path / name).write_text(str(value))
            return True
        except OSError:
            if optional:
                return False
            raise

    def _read(self, controller: str, name: str) -> str:
        path = self.paths.get(controller)
        try:
            return (path / name).read_text() if path else ""
        except OSError:
            return ""


def live_tags() -> set[str]:
    """Tags of the groups whose grader still runs."""
    try:
        names = [p.name for p in (ROOT / "memory").iterdir()]
    except OSError:
        return set()
    return {m.group(2) for m in map(NAME.match, names) if m and Path(f"/proc/{m.group(1)}").exists()}


def remove_stale() -> None:
    """Remove the empty groups of graders that no longer run (killed before their clean-up;
    their kernels died with them). Groups with processes are left alone: the pid may belong
    to a grader in another pid namespace."""
    for controller in REQUIRED + OPTIONAL:
        remove_stale_groups(ROOT / controller)


def remove_stale_groups(base: Path) -> None:
    """Remove the grader groups under ``base`` whose grader's pid is gone (v1 and v2 alike);
    ``rmdir`` fails on a group that still holds processes, which is then left alone."""
    try:
        paths = [p for p in base.iterdir() if NAME.match(p.name)]
    except OSError:
        return
    for path in paths:
        named = NAME.match(path.name)
        if named is not None and not Path(f"/proc/{named.group(1)}").exists():
            try:
                path.rmdir()
            except OSError:
                pass
