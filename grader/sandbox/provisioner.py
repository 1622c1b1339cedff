"""The jupyter_client provisioner that forks an unsandboxed kernel from the kernel zygote
(``grader.sandbox.zygote``) instead of starting it as a child process."""
from __future__ import annotations

import os
import sys
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from grader.sandbox import zygotes
from grader.sandbox.forked import ForkedProcess


class ForkingProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel forked by the zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        forked = _fork(cmd, kwargs)
        if forked is None:
            return await super().launch_kernel(cmd, **kwargs)
        # duck-typed: what the provisioner calls of a Popen (poll, wait, send_signal, kill)
        self.process = forked  # type: ignore[assignment]
        self.pid = self.pgid = forked.pid
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        await signal_live(self, signum, super().send_signal)


async def signal_live(provisioner: Any, signum: int, send: Any) -> None:
    """Signal the kernel only while it runs: a forked kernel is reaped by its supervisor as it
    ends, so its pid (and process group) may already be another process's, and jupyter_client
    signals the group without asking (``kill``, ``terminate`` and ``send_signal`` all come
    here)."""
    process = provisioner.process
    if process is None or process.poll() is not None:
        return
    await send(signum)


def _fork(cmd: list[str], kwargs: dict[str, Any]) -> ForkedProcess | None:
    """The kernel forked by its zygote; None where there is none (the caller starts a child)."""
    if cmd[:3] != [sys.executable, "-m", "ipykernel_launcher"]:
        return None
    env = dict(kwargs.get("env") or {})
    # as jupyter_client's launcher sets it; the kernel's parent is its supervisor, which kills it
    # when the grader goes (``zygote_server._wait``)
    env["JPY_PARENT_PID"] = str(os.getpid())
    opened: list[int] = []
    try:
        fds = [stream_fd(kwargs.get(name), opened) for name in ("stdin", "stdout", "stderr")]
        return zygotes.fork(env, str(kwargs.get("cwd") or os.getcwd()), fds, cmd[3:])
    finally:
        for fd in opened:
            os.close(fd)


def stream_fd(stream: Any, opened: list[int]) -> int:
    """The descriptor of a Popen-style stream argument (a file, a descriptor, DEVNULL or
    None: /dev/null, opened here and closed by the caller once passed)."""
    if hasattr(stream, "fileno"):
        return stream.fileno()
    if isinstance(stream, int) and stream >= 0:
        return stream
    fd = os.open(os.devnull, os.O_RDWR)  # DEVNULL, or None: nothing to inherit from here
    opened.append(fd)
    return fd
