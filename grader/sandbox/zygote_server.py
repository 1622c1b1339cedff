"""The kernel zygote's own process: ``grader.sandbox.zygote`` runs this file's text with
``python -c`` (never imported, never run by path, so no folder of the grader is on its path).

It imports what every kernel imports at its start (ipykernel, Keras with TensorFlow and
matplotlib: about 3.3 CPU-seconds, measured 2026-12-06) once, then forks one kernel per request
on its Unix socket, so that an unsandboxed kernel starts without importing them anew. It imports
no module of the grader, so a kernel forked from it holds none, and it runs in an empty folder
of its own, the first on its path: no file of a student or of the folder the grader runs in can
be imported by it.

Per request (JSON: ``args``, ``env``, ``cwd``; three file descriptors for stdin, stdout and
stderr passed with it) it forks a *supervisor*, which forks the kernel, sends ``{"pid": N}``,
waits for the kernel and sends ``{"exit": code}``: the grader sees the kernel's end as it would
a child's. The zygote exits, removing its folder, when its stdin (a pipe from the grader) closes.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.util
import json
import os
import random
import select
import shutil
import signal
import socket
import sys
import traceback

#: what a kernel imports at its start, in this order (a missing one is skipped)
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "keras")
MAX_REQUEST = 1 << 20
#: the environment variables that ``PRELOAD``'s imports set
imported_env: dict[str, str] = {}


def main(sock_path: str) -> None:
    before = dict(os.environ)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # what the imports set (TensorFlow sets a variable): a fresh kernel's imports would set it too
    imported_env.update((k, v) for k, v in os.environ.items() if before.get(k) != v)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the supervisors are reaped by the system
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            shutil.rmtree(os.path.dirname(sock_path), ignore_errors=True)
            return  # the grader is gone (killed: it could not remove the folder itself)
        if listener in ready:
            conn, _ = listener.accept()
            _serve(conn, listener)


def _serve(conn: socket.socket, listener: socket.socket) -> None:
    fds: list[int] = []
    try:
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        request = json.loads(message)
        if len(fds) != 3:
            raise ValueError("three file descriptors expected")
        if os.fork() == 0:
            code = 0
            try:
                _supervise(conn, listener, request, fds)
            except BaseException:
                code = 1
            os._exit(code)
    except (OSError, ValueError):
        pass
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)


def _supervise(conn: socket.socket, listener: socket.socket, request: dict,
               fds: list[int]) -> None:
    listener.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_kernel(request, fds)
    for fd in fds:
        os.close(fd)
    fds.clear()
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    status = _wait(pid, conn)
    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _wait(pid: int, conn: socket.socket) -> int:
    """The kernel's wait status. The grader never writes on ``conn``: when it becomes readable,
    the grader is gone (or let go of the kernel), and the kernel's process group is killed, as
    ipykernel kills a kernel whose parent has gone."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # before Linux 5.3: polled
    while True:
        watched: list = [conn] if pidfd is None else [conn, pidfd]
        ready, _, _ = select.select(watched, [], [], 0.2 if pidfd is None else None)
        if conn in ready:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return os.waitpid(pid, 0)[1]
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status


def _become_kernel(request: dict, fds: list[int]) -> None:
    """What ``python -m ipykernel_launcher ARGS`` would be, in ``cwd`` with ``env``; never returns."""
    code: object = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for key, value in imported_env.items():
            os.environ.setdefault(key, value)
        del sys.path[0]  # ``-c``'s folder (the zygote's); ipykernel_launcher removes ``-m``'s
        spec = importlib.util.find_spec("ipykernel_launcher")
        sys.argv = [spec.origin if spec and spec.origin else "ipykernel_launcher",
                    *request["args"]]
        _reseed()
        from ipykernel import kernelapp
        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _reseed() -> None:
    """A forked kernel would otherwise draw the zygote's random numbers, the same in every one."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


if __name__ == "__main__":
    main(sys.argv[1])
