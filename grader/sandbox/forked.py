"""A process forked by a zygote (``grader.sandbox.zygote``: a kernel, a verification worker),
seen by its user as if it were a child process: the supervisor's replies on its Unix socket give
its pid and its exit."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
from typing import Any


class Replies:
    """The supervisor's replies, one JSON object per line (the pid and the exit code may
    arrive in one read when a kernel ends at once)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def ready(self, timeout: float | None) -> bool:
        """Whether a reply (or the connection's end) can be read within ``timeout`` s."""
        return b"\n" in self.buffer or bool(select.select([self.conn], [], [], timeout)[0])

    def next(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ValueError("the connection closed")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ValueError("not a reply")
        return reply


class ForkedProcess:
    """The part of ``subprocess.Popen`` that jupyter_client's provisioner and the verification
    worker's client use, for a process that is the zygote's grandchild: its exit code comes from
    its supervisor. ``stdin`` and ``stdout`` are the user's ends of pipes it made (or None)."""

    def __init__(self, pid: int, replies: Replies, supervisor: int | None = None) -> None:
        self.pid, self.replies = pid, replies
        #: the supervisor's pid: it lives as long as the process
        self.supervisor = supervisor
        self.returncode: int | None = None
        self.stdin: Any = None
        self.stdout: Any = None
        self.stderr: Any = None

    def poll(self) -> int | None:
        """The exit code, or None while the process runs."""
        return self._read(timeout=0)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the process has ended (``TimeoutExpired`` after ``timeout`` s)."""
        code = self._read(timeout=timeout)
        if code is None:
            raise subprocess.TimeoutExpired("forked process", timeout or 0)
        return code

    def _read(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if not self.replies.ready(timeout):
            return None
        try:
            self.returncode = int(self.replies.next()["exit"])
        except (OSError, ValueError, KeyError, TypeError):
            self.returncode = -signal.SIGKILL  # the supervisor is gone, and it took the process
        self.replies.conn.close()
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """Killed by its supervisor, its parent (so no pid another process has taken since can
        be hit, and a process not yet in a session of its own dies too): the supervisor kills
        it and its process group when this side of the connection closes for writing, and still
        reports its exit."""
        if self.poll() is None:
            try:
                self.replies.conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        """Let go of it: its supervisor kills it, if it still runs."""
        self.replies.conn.close()

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)
