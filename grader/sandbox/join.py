"""Sandboxed kernels that do not import TensorFlow anew: bubblewrap builds the sandbox around a
small *holder* process, and a kernel forked from the kernel zygote enters it
(``join_server.py``, which runs in the zygote).

Why: a sandboxed kernel's own import of ipykernel, TensorFlow, Keras and matplotlib is ~3.3
CPU-s, 15 of a cold batch of 16 samples' ~106 CPU-s (``docs/performance.md``). The sandbox is
the same: bubblewrap's namespaces, mounts, uid map and ``--disable-userns``, the session's
cgroups, rlimits and seccomp filter; the kernel proves to itself that it holds no capability,
runs as the sandbox uid with no-new-privileges and the filter loaded, or exits before any cell.

The holder is the sandbox's first process (``--as-pid-1``: no process inside may kill it). It
writes ``ready`` on its stdout once bubblewrap has started it, then reads a line on its stdin:
``exec`` makes it start the kernel itself (a fresh sandboxed kernel, as before: where the
zygote cannot start, fork or confine one) and end as it ends, anything else keeps it waiting
until its stdin closes, which ends the sandbox's PID namespace and everything in it. The
forked kernel's parent is a second supervisor inside that namespace, which the kernel may not
signal (``join_server._inside``). Either way, the kernel's parent is not one it can kill, and
orphans are reaped by the holder.

Used at the levels where the grader is root and the limits are a cgroup (v1, v2) that the
kernel joins by pid: the others start each sandboxed kernel afresh.
"""
from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from jupyter_client.provisioning import LocalProvisioner

from grader.sandbox import seccomp, zygotes
from grader.sandbox.provisioner import signal_live, stream_fd

#: the holder (``python -I -S -c HOLDER KERNEL_ARGV...``)
HOLDER = """import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.write(1, b"ready\\n")
if sys.stdin.readline() == "exec\\n":
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.dup2(os.open(os.devnull, os.O_RDWR), 0)
        os.dup2(2, 1)
        os.execv(sys.argv[1], sys.argv[1:])
    while True:
        done, status = os.wait()
        if done == pid:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
sys.stdin.read()
"""
#: how long bubblewrap may take to start the holder
READY_TIMEOUT = 30.0
#: ``info.json``'s keys of the namespaces the kernel joins (the user namespace is the holder's
#: own nested one, which bubblewrap does not report)
INFO_KEYS = {"cgroup": "cgroup-namespace", "ipc": "ipc-namespace", "mnt": "mnt-namespace",
             "net": "net-namespace", "pid": "pid-namespace", "uts": "uts-namespace"}


def holder_command(python: str, kernel: list[str]) -> list[str]:
    """The holder's command line, the kernel's (run by ``exec``) after it."""
    return [python, "-I", "-S", "-c", HOLDER, *kernel]


@dataclass
class JoinPlan:
    """What the kernel enters, known when the session is set up."""

    #: bubblewrap's ``--info-fd`` file (its sandbox's first pid and namespaces)
    info: Path
    uid: int
    cgroup_procs: list[str]
    rlimits: dict[str, list[int]]
    #: the kernel's environment and working dir, as bubblewrap would have given them
    env: dict[str, str]
    cwd: str
    connection_file: str
    seccomp: bytes = field(default_factory=lambda: seccomp.program() if seccomp.supported() else b"")


def provisioner_for(plan: JoinPlan) -> type[JoiningProvisioner]:
    """A provisioner class for one session (jupyter_client instantiates the class)."""
    return type("SessionJoiningProvisioner", (JoiningProvisioner,), {"plan": plan})


class JoiningProvisioner(LocalProvisioner):
    """Starts the holder as jupyter_client would start the kernel, then a forked kernel that
    enters its sandbox; the holder becomes the kernel where that cannot be."""

    plan: ClassVar[JoinPlan]
    holder: subprocess.Popen | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        self.plan.info.unlink(missing_ok=True)  # a retried start: the new sandbox's
        self.holder = holder = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=kwargs.get("stderr"),
            env=kwargs.get("env"), cwd=kwargs.get("cwd"), start_new_session=True)
        forked = await asyncio.to_thread(self._join, holder, kwargs)
        assert holder.stdin is not None
        try:
            holder.stdin.write(b"join\n" if forked is not None else b"exec\n")
            holder.stdin.flush()
        except OSError:
            pass  # the holder is gone: the kernel (either one) dies with the sandbox
        # duck-typed: what the provisioner calls of a Popen (poll, wait, send_signal, kill)
        self.process = forked or holder
        self.pid = self.process.pid
        self.pgid = self.pid if forked is not None else _pgid(holder.pid)
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    def _join(self, holder: subprocess.Popen, kwargs: dict[str, Any]):
        """The forked kernel inside the holder's sandbox, or None (the holder becomes it)."""
        info = _holder_info(holder, self.plan.info)
        if info is None:
            return None
        plan = self.plan
        join = {"holder": int(info["child-pid"]), "namespaces": {k: info[v] for k, v in INFO_KEYS.items() if v in info},
                "cgroup_procs": plan.cgroup_procs, "rlimits": plan.rlimits, "uid": plan.uid,
                "cwd": plan.cwd, "seccomp": plan.seccomp.hex()}
        opened: list[int] = []
        try:
            fds = [stream_fd(None, opened), stream_fd(kwargs.get("stdout"), opened),
                   stream_fd(kwargs.get("stderr"), opened)]
            return zygotes.fork(plan.env, plan.cwd, fds, ["-f", plan.connection_file], join=join)
        finally:
            for fd in opened:
                os.close(fd)

    async def send_signal(self, signum: int) -> None:
        await signal_live(self, signum, super().send_signal)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        holder, self.holder = self.holder, None
        if holder is not None:
            for stream in (holder.stdin, holder.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            holder.kill()
            holder.wait()


def _holder_info(holder: subprocess.Popen, info: Path) -> dict | None:
    """Bubblewrap's ``--info-fd`` report (its ``child-pid`` is the holder: ``--as-pid-1``),
    once the holder said ``ready``; None where it did not."""
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], READY_TIMEOUT)
    if not ready or holder.stdout.readline() != b"ready\n":
        return None
    try:  # bubblewrap writes the file before it starts the holder
        report = json.loads(info.read_text())
        int(report["child-pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if isinstance(report, dict) else None


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
