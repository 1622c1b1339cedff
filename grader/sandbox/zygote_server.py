"""The kernel zygote's own process: ``grader.sandbox.zygote`` runs this file's text with
``python -c`` (never run by path, so no folder of the grader is on its path). The verification
workers' zygote (``grader.verify.zygote``, a grader process) imports it for the same loop.

It imports what every kernel imports at its start (ipykernel, Keras with TensorFlow and
matplotlib: about 3.3 CPU-seconds, measured 2026-12-06) once, then forks one kernel per request
on its Unix socket, so that a kernel starts without importing them anew (a sandboxed one then
enters its sandbox: ``join_server.py``). Run as the kernel zygote, it imports no module of the
grader, so a kernel forked from it holds none, and it runs in an empty folder of its own, the
first on its path: no file of a student or of the folder the grader runs in can be imported by
it.

Per request (JSON: ``args``, ``env``, ``cwd``; three file descriptors for stdin, stdout and
stderr passed with it) it forks a *supervisor*, which forks the kernel, sends ``{"pid": N,
"supervisor": M}``, waits for the kernel and sends ``{"exit": code}``: the grader sees the
kernel's end as it would a child's. The kernel dies with its supervisor. The zygote exits,
removing its folder, when its stdin (a pipe from the grader) closes.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
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
from collections.abc import Callable, Iterator

PR_SET_PDEATHSIG = 1
#: what a kernel imports at its start, in this order (a missing one is skipped)
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "keras")
MAX_REQUEST = 1 << 20
#: how long a request may take to arrive once its connection is accepted
REQUEST_TIMEOUT = 10.0
#: the environment variables that ``PRELOAD``'s imports set
imported_env: dict[str, str] = {}
#: the ``keras.json`` Keras's import wrote in the zygote's home (a kernel's fresh import would
#: write the same in its own)
keras_json = ""
#: how a kernel enters a sandbox (``join_server.py``'s functions), where the zygote's program
#: was given that file's text (the kernel zygote: ``grader.sandbox.zygote.kernel_command``)
joining: dict = {}


def main(sock_path: str, preload: tuple[str, ...] = PRELOAD,
         become: Callable[[dict, list[int]], None] | None = None) -> None:
    """Import ``preload``, then serve forks until stdin closes; ``become`` turns a forked child
    into what was asked for and never returns (a kernel, unless given: the verification
    worker's zygote, ``grader.verify.zygote``, gives its own)."""
    become = become or _become_kernel
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the imports print goes to the log, not into the "ready" handshake
    before = dict(os.environ)
    with gc_paused():
        for name in preload:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    # what the imports set (TensorFlow sets a variable): a fresh kernel's imports would set it too
    imported_env.update((k, v) for k, v in os.environ.items() if before.get(k) != v)
    _read_keras_json()
    # the imports' objects live as long as the zygote: out of the garbage collector's reach, so
    # that a forked child's collections neither walk them nor write to (and so copy) their pages
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path + ".new")
    listener.listen(64)
    os.rename(sock_path + ".new", sock_path)  # the socket's path exists once it accepts
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the supervisors are reaped by the system
    ready.write("ready\n")
    ready.close()
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
            # the grader is gone (killed: it could not remove the folder itself); no interpreter
            # shutdown, which with TensorFlow loaded takes seconds on a busy machine
            shutil.rmtree(os.path.dirname(sock_path), ignore_errors=True)
            os._exit(0)
        if listener in readable:
            conn, _ = listener.accept()
            _serve(conn, listener, become)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside (as it was after): importing TensorFlow and Keras creates
    about a million objects and few cycles, and the collections their allocations trigger cost
    a kernel zygote's start ~0.25 of its ~3.4 CPU-s. (A kernel's own first ``import keras`` does the same in
    ``grader/execute/kernel/guard.py``, which runs in the kernel and cannot import this.)"""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _serve(conn: socket.socket, listener: socket.socket,
           become: Callable[[dict, list[int]], None]) -> None:
    """One request; whatever it holds, the zygote goes on serving."""
    fds: list[int] = []
    try:
        conn.settimeout(REQUEST_TIMEOUT)  # a connection that sends nothing holds up no other
        message, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        request = json.loads(message)
        if len(fds) != 3 or not isinstance(request, dict):
            raise ValueError("a request and three file descriptors expected")
        try:
            pid = os.fork()
        except OSError as exc:  # e.g. EAGAIN: the grader starts this kernel as a child
            conn.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
            return
        if pid == 0:
            code = 0
            try:
                _supervise(conn, listener, request, fds, become)
            except BaseException:
                code = 1
            os._exit(code)
    except Exception:
        pass
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)


def _supervise(conn: socket.socket, listener: socket.socket, request: dict, fds: list[int],
               become: Callable[[dict, list[int]], None]) -> None:
    listener.close()
    conn.settimeout(None)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    supervisor = os.getpid()
    if request.get("join"):  # a kernel that enters a sandbox: ``join_server.supervise``
        joining["supervise"](conn, request, fds, become, _die_with, _wait)
        return
    pid = os.fork()
    if pid == 0:
        conn.close()
        _die_with(supervisor)
        become(request, fds)
    for fd in fds:
        os.close(fd)
    fds.clear()
    conn.sendall(json.dumps({"pid": pid, "supervisor": os.getpid()}).encode() + b"\n")
    status = _wait(pid, conn)
    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _die_with(parent: int, inside: bool = False) -> None:
    """The forked child dies with its supervisor (which kills it when the grader goes): SIGKILL
    at the supervisor's death (Linux), and at once if it is already gone. ``inside``: born in a
    sandbox's PID namespace, where its supervisor has no pid (``getppid`` is 0)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass
    if os.getppid() != (0 if inside else parent):
        os._exit(1)


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

    def kernel() -> None:
        enter(request, fds)
        if sys.path and sys.path[0] == "":
            del sys.path[0]  # ``-c``'s (the zygote's folder); ipykernel_launcher removes ``-m``'s
        spec = importlib.util.find_spec("ipykernel_launcher")
        sys.argv = [spec.origin if spec and spec.origin else "ipykernel_launcher",
                    *request["args"]]
        if request.get("join"):  # the zygote's (a log, a pipe from the grader) stay outside
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _own_folders()
        from ipykernel import kernelapp
        # ipykernel exits when its parent goes: here that is the supervisor, not the grader
        # named in JPY_PARENT_PID (read when the zygote imported it; the variable stays as given)
        kernelapp.IPKernelApp.launch_instance(parent_handle=os.getppid())

    finish(kernel)


def finish(run: Callable[[], object]) -> None:
    """Run ``run`` as a forked child's main program, then end the child as an interpreter would
    (its exit functions run, its streams flushed, ``run``'s result or ``SystemExit`` as the exit
    code); never returns into the zygote's loop."""
    code: object = 1
    try:
        code = run()
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


def enter(request: dict, fds: list[int]) -> None:
    """What every forked child does first: a session of its own, the given descriptors as its
    stdin, stdout and stderr, the request's working folder and environment (with what the
    imports set; its temporary folder chosen from it), fresh random seeds."""
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
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:  # chosen from the environment again, as a fresh process would
        vars(tempfile)["tempdir"] = None
    _reseed()


def _read_keras_json() -> None:
    global keras_json
    module = sys.modules.get("keras.src.backend.config")
    folder = getattr(module, "_KERAS_DIR", None)
    try:
        with open(os.path.join(folder, "keras.json")) as f:  # type: ignore[arg-type]
            keras_json = f.read()
    except (OSError, TypeError):
        keras_json = ""


def _own_folders() -> None:
    """Keras and matplotlib chose their folders when the zygote imported them, under the
    zygote's home: point them at this kernel's, as a fresh import would have."""
    module = sys.modules.get("keras.src.backend.config")
    config = vars(module) if module is not None else {}
    if "_KERAS_DIR" in config:
        if "KERAS_HOME" in os.environ:
            config["_KERAS_DIR"] = os.environ["KERAS_HOME"]
        else:
            base = os.path.expanduser("~")
            config["_KERAS_DIR"] = os.path.join(base if os.access(base, os.W_OK) else "/tmp",
                                                ".keras")
        try:  # as Keras's import leaves it: the folder, with its default keras.json
            if not os.path.exists(config["_KERAS_DIR"]):
                os.makedirs(config["_KERAS_DIR"])
                if keras_json:  # read by the zygote (a sandbox does not see its folder)
                    with open(os.path.join(config["_KERAS_DIR"], "keras.json"), "w") as f:
                        f.write(keras_json)
        except OSError:
            pass
    matplotlib = sys.modules.get("matplotlib")
    for name in ("get_configdir", "get_cachedir"):
        function = getattr(matplotlib, name, None)
        cells = dict(zip(getattr(getattr(function, "__code__", None), "co_freevars", ()),
                         getattr(function, "__closure__", None) or (), strict=False))
        if "called" in cells:  # matplotlib's ``_logged_cached``: computed again on next call
            cells["called"].cell_contents = False


def _reseed() -> None:
    """A forked kernel would otherwise draw the zygote's random numbers, the same in every one."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


if __name__ == "__main__":
    if len(sys.argv) > 2:  # the kernel zygote: ``join_server.py``'s text first
        exec(compile(sys.argv[1], "join_server.py", "exec"), joining)
    main(sys.argv[-1])
