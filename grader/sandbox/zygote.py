"""Unsandboxed kernels forked from a process that has already imported what they import.

Every kernel imports ipykernel, TensorFlow, Keras and matplotlib at its start: about 3.3
CPU-seconds of a cold check's 10, and most of the test suite's CPU (``docs/performance.md``).
An unsandboxed kernel (``--sandbox off``) runs as the user with no confinement, so it can be a
fork of one long-lived process (the *zygote*, ``zygote_server.py``) that imported them once:
the grader keeps one per kernel environment for its own life, and ``ForkingProvisioner``
asks it for each kernel. A sandboxed kernel cannot be: each one starts inside its own
namespaces, so it still starts afresh.

What a forked kernel sees differs from a fresh one only in what was imported before its first
cell (as if its first line were ``import keras``): environment variables the notebook sets
before importing Keras or TensorFlow no longer reach them, and matplotlib and Keras keep the
zygote's configuration folders. Where no zygote can start or answer, the kernel is started as
a child process, as before.

The same machinery forks the verification workers (``grader.verify.zygote``): a zygote is a
command that runs ``zygote_server.main`` (``command``), and ``fork`` asks the one of a command
and environment for a process.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from grader.sandbox import fonts
from grader.sandbox.forked import ForkedProcess, Replies

SERVER = Path(__file__).with_name("zygote_server.py")
PREFIX = "grader-zygote-"
#: the zygote's pid, in its folder (``remove_stale``)
PID_FILE = "zygote.pid"
#: how long the zygote may take to import (about 3 s on a quiet machine)
START_TIMEOUT = 120.0
#: how long a fork may take to be answered
FORK_TIMEOUT = 30.0
#: zygotes kept at once per command (one per environment: settings such as ``tf_threads``
#: differ)
MAX_ZYGOTES = 2
#: variables that name the kernel's own folders: not part of what the zygote imported under
PER_KERNEL = frozenset({"HOME", "MPLCONFIGDIR"})


class ZygoteError(Exception):
    """The zygote could not start or answer; the process is then started as a child."""


def kernel_command() -> tuple[str, ...]:
    """The kernel zygote: ``zygote_server.py``'s text run with ``python -c``."""
    return (sys.executable, "-c", SERVER.read_text())


class Zygote:
    """One zygote process: started by ``start``, stopped by ``close``. ``command`` runs
    ``zygote_server.main`` with the socket's path as its last argument."""

    def __init__(self, env: dict[str, str], command: tuple[str, ...] | None = None) -> None:
        self.command = command or kernel_command()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.socket_path = str(self.folder / "fork.sock")
        home = self.folder / "home"
        (self.folder / "cwd").mkdir()
        fonts.seed_home(home)
        self.env = {**env, "HOME": str(home), "MPLCONFIGDIR": str(home / fonts.MPL_DIR)}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the zygote and wait until it has imported (``ZygoteError`` if it does not)."""
        log = tempfile.TemporaryFile(dir=self.folder)
        self.process = subprocess.Popen(
            [*self.command, self.socket_path], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, env=self.env, cwd=self.folder / "cwd",
            start_new_session=True)
        (self.folder / PID_FILE).write_text(str(self.process.pid))
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        if not ready or self.process.stdout.readline() != b"ready\n":
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace")
            log.close()
            self.close()
            raise ZygoteError(f"the zygote did not start: {tail}")
        log.close()

    def fork(self, args: list[str], env: dict[str, str], cwd: str,
             fds: list[int]) -> ForkedProcess | None:
        """A process (a kernel: ``ipykernel_launcher args``) in ``cwd`` with ``env`` and ``fds``
        as its stdin, stdout and stderr; None where the zygote could not fork now (the process
        is started as a child). Raises ``ZygoteError`` where the zygote does not answer."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        replies = Replies(conn)
        try:
            conn.settimeout(FORK_TIMEOUT)
            conn.connect(self.socket_path)
            socket.send_fds(conn, [json.dumps({"args": args, "env": env, "cwd": cwd}).encode()],
                            fds)
            reply = replies.next()
            if "error" in reply:
                conn.close()
                return None
            pid = int(reply["pid"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            conn.close()
            raise ZygoteError(f"the zygote did not answer: {exc}") from None
        conn.settimeout(None)
        return ForkedProcess(pid, replies)

    def close(self) -> None:
        """Stop the zygote (the processes it forked live on) and remove its folder."""
        if self.process is not None:
            self.process.kill()  # only the zygote: its supervisors wait on live kernels
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_lock = threading.Lock()
_zygotes: dict[Key, Zygote] = {}
_failed: set[Key] = set()
_owner = os.getpid()


def zygote_for(env: dict[str, str], command: tuple[str, ...] | None = None) -> Zygote | None:
    """The zygote of this command (the kernels' by default) and environment, started on first
    use and kept until exit; None where it could not start (then not tried again in this
    process)."""
    global _owner
    command = command or kernel_command()
    key = (command, _key(env))
    with _lock:
        if _owner != os.getpid():  # a forked grader: its parent's zygotes are not its own
            _zygotes.clear()
            _failed.clear()
            _owner = os.getpid()
        if key in _failed:
            return None
        found = _zygotes.get(key)
        if found is None or found.process is None or found.process.poll() is not None:
            if found is not None:  # it died (killed): its folder goes now
                found.close()
            remove_stale()
            found = Zygote(env, command)
            try:
                found.start()
            except (OSError, ZygoteError):
                found.close()
                _failed.add(key)
                return None
            _zygotes[key] = found
            same = [k for k in _zygotes if k[0] == command]
            for old in same[:-MAX_ZYGOTES]:  # the oldest go: what they forked lives on
                _zygotes.pop(old).close()
        return found


def remove_stale(root: str | None = None) -> None:
    """Remove the folders of zygotes that are gone: one killed together with its grader (a
    whole process tree killed at once) could remove its own neither way."""
    for folder in Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            pid = int((folder / PID_FILE).read_text())
        except (OSError, ValueError):  # no pid yet: a zygote starting now, unless it is old
            try:
                old = time.time() - folder.stat().st_mtime > START_TIMEOUT
            except OSError:
                continue
            if old:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        if not _running(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pids() -> set[int]:
    """The process ids of the zygotes kept now (a test's "no process left behind" excepts
    them: they belong to the grader's whole life, not to one grading)."""
    with _lock:
        return {z.process.pid for z in _zygotes.values() if z.process is not None}


def discard(zygote: Zygote) -> None:
    """Stop a zygote that failed to answer; the next kernel starts a new one."""
    with _lock:
        for key, value in list(_zygotes.items()):
            if value is zygote:
                del _zygotes[key]
    zygote.close()


def _key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What the zygote's imports may have depended on: the environment but for the kernel's
    own folders."""
    return tuple(sorted((k, v) for k, v in env.items() if k not in PER_KERNEL))


@atexit.register
def close_all() -> None:
    """Stop this process's zygotes (at exit; tests call it to start afresh)."""
    with _lock:
        if _owner == os.getpid():
            for zygote in _zygotes.values():
                zygote.close()
        _zygotes.clear()


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
        fds = [_fd(kwargs.get(name), opened) for name in ("stdin", "stdout", "stderr")]
        return fork(env, str(kwargs.get("cwd") or os.getcwd()), fds, cmd[3:])
    finally:
        for fd in opened:
            os.close(fd)


def fork(env: dict[str, str], cwd: str, fds: list[int], args: list[str] | None = None,
         command: tuple[str, ...] | None = None) -> ForkedProcess | None:
    """A process forked by the zygote of ``command`` and ``env`` (see ``Zygote.fork``); None
    where none can (the caller starts a child). Linux only: elsewhere forking a process that has
    loaded TensorFlow and the platform's numerical libraries is unsafe (macOS) or impossible
    (Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    for _ in range(2):  # a zygote that died (killed, out of memory) is started once more
        zygote = zygote_for(env, command)
        if zygote is None:
            return None
        try:
            return zygote.fork(list(args or []), env, cwd, fds)
        except ZygoteError:
            discard(zygote)
    return None


def _fd(stream: Any, opened: list[int]) -> int:
    """The descriptor of a Popen-style stream argument (a file, a descriptor, DEVNULL or
    None: /dev/null, opened here and closed by the caller once passed)."""
    if hasattr(stream, "fileno"):
        return stream.fileno()
    if isinstance(stream, int) and stream >= 0:
        return stream
    fd = os.open(os.devnull, os.O_RDWR)  # DEVNULL, or None: nothing to inherit from here
    opened.append(fd)
    return fd
