"""Unsandboxed kernels forked from a process that has already imported what they import.

Every kernel imports ipykernel, TensorFlow, Keras and matplotlib at its start: about 3.3
CPU-seconds of a cold check's 10, and most of the test suite's CPU (``docs/performance.md``).
An unsandboxed kernel (``--sandbox off``) runs as the user with no confinement, so it can be a
fork of one long-lived process (the *zygote*, ``zygote_server.py``) that imported them once:
the grader keeps one per kernel environment for its own life (``zygotes.py``), and
``ForkingProvisioner`` (``provisioner.py``) asks it for each kernel. A sandboxed kernel is
forked too where the sandbox level allows (``join.py``): bubblewrap builds its sandbox, and
the forked kernel enters it.

What a forked kernel sees differs from a fresh one only in what was imported before its first
cell (as if its first line were ``import keras``): environment variables the notebook sets
before importing Keras or TensorFlow no longer reach them, and matplotlib and Keras keep the
zygote's configuration folders. Where no zygote can start or answer, the kernel is started as
a child process, as before.

The same machinery forks the verification workers (``grader.verify.zygote``): a zygote is a
command that runs ``zygote_server.main`` (``command``), and ``zygotes.fork`` asks the one of a
command and environment for a process.
"""
from __future__ import annotations

import functools
import json
import os
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.sandbox import fonts
from grader.sandbox.forked import ForkedProcess, Replies
from grader.util import sockets

SERVER = Path(__file__).with_name("zygote_server.py")
JOIN = Path(__file__).with_name("join_server.py")
PREFIX = "grader-zygote-"
#: the zygote's pid, in its folder (``remove_stale``)
PID_FILE = "zygote.pid"
#: the zygote's socket, in its folder: it appears once the zygote can fork (bound under another
#: name and renamed when listening)
SOCKET = "fork.sock"
#: how long the zygote may take to import (about 3 s on a quiet machine)
START_TIMEOUT = 120.0
#: how long a fork may take to be answered
FORK_TIMEOUT = 30.0


class ZygoteError(Exception):
    """The zygote could not start or answer; the process is then started as a child."""


def kernel_command() -> tuple[str, ...]:
    """The kernel zygote: ``zygote_server.py``'s text run with ``python -c``, given
    ``join_server.py``'s (how a sandboxed kernel enters its sandbox) as its first argument (read
    once per path: they are asked for on every fork)."""
    return (sys.executable, "-c", _text(SERVER), _text(JOIN))


@functools.lru_cache(maxsize=4)
def _text(path: Path) -> str:
    return path.read_text()


class Zygote:
    """One zygote process: started by ``start`` (or ``started``, once whoever asks first),
    stopped by ``close``. ``command`` runs ``zygote_server.main`` with the socket's path as its
    last argument."""

    def __init__(self, env: dict[str, str], command: tuple[str, ...] | None = None,
                 own_home: bool = True) -> None:
        """``own_home``: a home folder of its own (the kernels': theirs are each kernel's own,
        removed with it); else the ``HOME`` of ``env`` (the verification workers': the user's,
        whose ``~/.keras/keras.json`` a worker started afresh reads too)."""
        self.command = command or kernel_command()
        try:  # where its socket's path fits (``grader.util.sockets``)
            self.folder = Path(sockets.socket_folder(PREFIX, f"{SOCKET}.new"))
        except sockets.SocketPathTooLong:  # it cannot listen: kernels are started as children
            self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.socket_path = str(self.folder / SOCKET)
        (self.folder / "cwd").mkdir()
        self.env = dict(env)
        if own_home:
            home = self.folder / "home"
            fonts.seed_home(home)
            self.env.update(HOME=str(home), MPLCONFIGDIR=str(home / fonts.MPL_DIR))
        self.process: subprocess.Popen | None = None
        self._starting = threading.Lock()
        #: None until started (or failed to)
        self.ready: bool | None = None
        #: stopped (by ``close``): a start in progress fails, and no new one begins
        self.closed = False
        #: it could not start (not: it was closed while it started)
        self.failed = False

    def started(self) -> bool:
        """Start the zygote unless done already (one caller starts it, others wait); whether
        it runs."""
        with self._starting:
            if self.ready is None:
                try:
                    if self.closed:
                        raise ZygoteError("closed")
                    self.start()
                    self.ready = not self.closed
                except Exception:  # OSError, ZygoteError, or what a close meanwhile caused
                    self.ready = False
                if not self.ready and not self.closed:  # its own failure, not a close
                    self.failed = True
                    self.close()
        return self.ready

    def alive(self) -> bool:
        """Starting, or started and running."""
        return self.ready is None or (self.process is not None and self.process.poll() is None)

    def start(self) -> None:
        """Start the zygote and wait until it has imported (``ZygoteError`` if it does not)."""
        log = tempfile.TemporaryFile(dir=self.folder)
        self.process = process = subprocess.Popen(
            [*self.command, self.socket_path], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, env=self.env, cwd=self.folder / "cwd",
            start_new_session=True)
        (self.folder / PID_FILE).write_text(str(process.pid))
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        if not ready or process.stdout.readline() != b"ready\n":
            log.seek(0)
            tail = log.read()[-2000:].decode(errors="replace")
            log.close()
            self.failed = not self.closed  # not: closed by another thread while it started
            self.close()
            raise ZygoteError(f"the zygote did not start: {tail}")
        log.close()

    def fork(self, args: list[str], env: dict[str, str], cwd: str,
             fds: list[int], join: dict | None = None) -> ForkedProcess | None:
        """A process (a kernel: ``ipykernel_launcher args``) in ``cwd`` with ``env`` and ``fds``
        as its stdin, stdout and stderr; None where the zygote could not fork now (the process
        is started as a child). ``join``: the sandbox the kernel enters (``grader.sandbox.join``;
        None also where it could not). Raises ``ZygoteError`` where the zygote does not
        answer."""
        request = {"args": args, "env": env, "cwd": cwd, **({"join": join} if join else {})}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        replies = Replies(conn)
        try:
            conn.settimeout(FORK_TIMEOUT)
            conn.connect(self.socket_path)
            socket.send_fds(conn, [json.dumps(request).encode()], fds)
            reply = replies.next()
            if "error" in reply or (join and reply.get("joined") is not True):
                conn.close()
                return None
            pid, supervisor = int(reply["pid"]), reply.get("supervisor")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            conn.close()
            raise ZygoteError(f"the zygote did not answer: {exc}") from None
        conn.settimeout(None)
        return ForkedProcess(pid, replies, supervisor if isinstance(supervisor, int) else None)

    def close(self) -> None:
        """Stop the zygote (the processes it forked live on) and remove its folder."""
        self.closed = True
        if self.process is not None:
            self.process.kill()  # only the zygote: its supervisors wait on live kernels
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


class SharedZygote(Zygote):
    """A zygote another process of this grader owns (a batch's coordinator, for its workers):
    forked from, never started or stopped here. It is ready once its socket appears, and gone
    once its folder is (its owner could not start it, or has stopped it)."""

    def __init__(self, command: tuple[str, ...], folder: str) -> None:
        self.command, self.folder = command, Path(folder)
        self.socket_path = str(self.folder / SOCKET)
        self.env, self.process, self.ready = {}, None, None
        self.closed = self.failed = False
        self._starting = threading.Lock()

    def start(self) -> None:
        """Wait for the owner's zygote to listen; only a folder of this user's is trusted."""
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.socket_path):
            if not _ours(self.folder) or time.monotonic() > deadline:
                raise ZygoteError("the shared zygote did not start")
            time.sleep(0.05)
        if not _ours(self.folder):
            raise ZygoteError("the shared zygote's folder is not this user's")

    def alive(self) -> bool:
        return self.ready is None or bool(self.ready and _ours(self.folder))

    def close(self) -> None:
        """Nothing of it is this process's to stop or remove."""
        self.closed = True


def remove_stale(root: str | None = None) -> None:
    """Remove the folders of zygotes that are gone: one killed together with its grader (a
    whole process tree killed at once) could remove its own neither way."""
    roots = [root] if root else sockets.bases()  # a zygote's folder may be in a short base
    for folder in (f for base in roots for f in Path(base).glob(f"{PREFIX}*")):
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
        if not running(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _ours(folder: Path) -> bool:
    """A folder of this user's, closed to others (as ``tempfile.mkdtemp`` makes it)."""
    try:
        found = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() \
        and not found.st_mode & 0o077


def running(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
