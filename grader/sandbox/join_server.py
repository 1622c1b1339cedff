"""How a kernel forked by the kernel zygote enters a sandbox that bubblewrap has built
(``grader.sandbox.join``). Part of the zygote's own program: ``zygote.kernel_command`` gives this
file's text to ``zygote_server.py``, which runs it into ``zygote_server.joining``; so standard
library only, and no ``__future__`` import.

Why: a sandboxed kernel started afresh imports TensorFlow, Keras and ipykernel itself (~3.3
CPU-s, most of a cold batch's work). Here bubblewrap still builds the sandbox exactly as for a
fresh kernel (namespaces, mounts, uid map, ``--disable-userns``) around a small *holder*, the
sandbox's first process; a kernel forked from the zygote (root, those modules imported) enters:

- the zygote's supervisor for the request (host root) opens the holder's namespaces and root
  through a pidfd of the holder (each namespace's inode compared with what bubblewrap reported
  for its sandbox, and the holder alive after the last open: no pid reused on the way), joins
  its PID namespace, and forks an *inside supervisor*;
- the inside supervisor (born in the sandbox's PID namespace, still host root, so no process
  of the sandbox may signal or trace it) joins the session's cgroups and the holder's cgroup,
  IPC, UTS, network and mount namespaces and root, so that what ``/proc`` shows of it is the
  sandbox's own; it forks the kernel and reports the kernel's wait status when it ends;
- the kernel lowers its rlimits, drops its groups, joins the holder's (nested) user namespace,
  empties its bounding and ambient capability sets, becomes the sandbox uid, clears every
  capability, sets no-new-privileges and loads the sandbox's seccomp filter, then checks all of
  that (and its namespaces and root against the sandbox's) in ``/proc`` and exits with
  ``JOIN_FAILED`` unless every item holds: a kernel that could not be confined runs no cell.

Both supervisors are non-dumpable and dump no core (they hold the zygote's memory, as root).
Every file descriptor of the kernel but its standard streams is closed before it starts
(``zygote_server._become_kernel``).
"""
import ctypes
import json
import os
import resource
import select
import signal

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
#: what the inside supervisor joins, in this order (all owned by the sandbox's outer user
#: namespace, over which the nested one the kernel joins gives no capability)
NAMESPACES = (("cgroup", CLONE_NEWCGROUP), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS),
              ("net", CLONE_NEWNET), ("mnt", CLONE_NEWNS))
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_CAP_AMBIENT = 4, 24, 22, 47
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 38, 1, 4, 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: the exit code of a kernel (or inside supervisor) that could not enter its sandbox
JOIN_FAILED = 98
#: how long the kernel may take to be confined
JOIN_TIMEOUT = 20.0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)


def _call(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


class Holder:
    """The holder's namespaces and root, opened and verified (see the module docstring)."""

    def __init__(self, join: dict) -> None:
        pid = int(join["holder"])
        self.fds: dict = {}
        self.pidfd: int | None = os.pidfd_open(pid)
        try:
            for name in ("pid", "user", *(n for n, _ in NAMESPACES)):
                self.fds[name] = fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                expected = join["namespaces"].get(name)
                found = os.fstat(fd).st_ino
                if (expected is not None and found != expected) or \
                        (name == "user" and found == os.stat("/proc/self/ns/user").st_ino):
                    raise OSError(f"the holder's {name} namespace is not the sandbox's")
            self.fds["root"] = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            root = os.fstat(self.fds["root"])
            self.root = (root.st_dev, root.st_ino)
            if select.select([self.pidfd], [], [], 0)[0]:  # readable: it has ended
                raise OSError("the holder is gone")
        except BaseException:
            self.close()
            raise

    def close(self, keep: str = "") -> None:
        for name, fd in list(self.fds.items()):
            if name != keep:
                os.close(fd)
                del self.fds[name]
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def supervise(conn, request: dict, fds: list, become, die_with, wait) -> None:
    """The zygote's supervisor of a kernel that enters a sandbox (``zygote_server._supervise``
    calls this instead of forking the kernel itself): replies ``{"pid", "supervisor",
    "joined"}`` (the kernel's pid on the host, once confined), then ``{"exit"}``."""
    _quiet_root()
    outer = os.getpid()
    try:
        holder = Holder(request["join"])
        _call(_libc.setns(holder.fds["pid"], CLONE_NEWPID), "setns(pid)")
        ready, told = os.pipe()
        statuses, status_out = os.pipe()
        pid = os.fork()
    except Exception as exc:  # this request fails; the zygote goes on serving
        conn.sendall(json.dumps({"error": f"cannot join the sandbox: {exc}"}).encode() + b"\n")
        return
    if pid == 0:
        conn.close()
        die_with(outer, inside=True)
        os.close(ready)
        os.close(statuses)
        _inside(request, fds, holder, told, status_out, become, die_with)
    holder.close()
    os.close(told)
    os.close(status_out)
    joined = _confined(ready, conn)
    os.close(ready)
    kernel = _only_child(pid) if joined else None
    for fd in fds:
        os.close(fd)
    fds.clear()
    conn.sendall(json.dumps({"pid": kernel or pid, "supervisor": outer,
                             "joined": kernel is not None}).encode() + b"\n")
    status = wait(pid, conn)
    reported = os.read(statuses, 64)
    os.close(statuses)
    if reported.strip().lstrip(b"-").isdigit():  # the kernel's own, from the inside supervisor
        status = int(reported)
    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _inside(request: dict, fds: list, holder: Holder, told: int, status_out: int, become,
            die_with) -> None:
    """The inside supervisor (module docstring); never returns."""
    try:
        _quiet_root()
        join = request["join"]
        for procs in join["cgroup_procs"]:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        for name, flag in NAMESPACES:
            _call(_libc.setns(holder.fds[name], flag), f"setns({name})")
        os.fchdir(holder.fds["root"])
        os.chroot(".")
        os.chdir("/")
        parent = os.getpid()
        pid = os.fork()
    except BaseException as exc:
        _refused(fds, exc)
    if pid == 0:
        die_with(parent)
        try:
            os.close(status_out)
            holder.close(keep="user")
            _confine(request["join"], holder.fds.pop("user"), holder.root)
            if os.getppid() != parent:
                raise OSError("its supervisor is gone")
        except BaseException as exc:
            _refused(fds, exc)
        os.write(told, b"1")
        os.close(told)
        become(request, fds)
    holder.close()
    os.close(told)
    for fd in fds:
        os.close(fd)
    status = os.waitpid(pid, 0)[1]
    os.write(status_out, str(status).encode())
    os._exit(0)


def _refused(fds: list, exc: BaseException) -> None:
    os.write(fds[2], f"grader: the kernel could not enter its sandbox: {exc!r}\n".encode())
    os._exit(JOIN_FAILED)


def _quiet_root() -> None:
    """A supervisor holds the zygote's memory as root: it neither dumps it nor lets it be read."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _call(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable")


def _confined(ready: int, conn) -> bool:
    """Whether the kernel said it is confined (one byte), before it exited, the grader went or
    ``JOIN_TIMEOUT`` passed."""
    readable, _, _ = select.select([ready, conn], [], [], JOIN_TIMEOUT)
    return ready in readable and os.read(ready, 1) == b"1"


def _only_child(pid: int) -> int | None:
    """The one child of ``pid`` (the kernel of the inside supervisor), read in the host's /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if len(children) == 1 else None


def _confine(join: dict, user: int, root: tuple) -> None:
    """In the kernel, before anything else runs there."""
    for name, (soft, hard) in join["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.setgroups([])
    try:
        _call(_libc.setns(user, CLONE_NEWUSER), "setns(user)")
    finally:
        os.close(user)
    os.chdir(join["cwd"])
    uid = int(join["uid"])
    for cap in range(64):  # the bounding set first: dropping it needs CAP_SETPCAP
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # EINVAL: past the last capability this kernel knows
    _call(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient caps")
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header, data = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _call(_libc.capset(ctypes.byref(header), data), "capset")
    os.umask(0o077)
    # as a fresh kernel (a changed uid made it non-dumpable, and cleared its parent-death signal)
    _call(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    _call(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "parent-death signal")
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    program = bytes.fromhex(join["seccomp"])
    if program:
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
        _call(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    check_confined(uid, bool(program), join["namespaces"], root)


def check_confined(uid: int, seccomp: bool, namespaces: dict | None = None,
                   root: tuple | None = None) -> None:
    """Raise unless this process is the sandbox uid with no capability of any kind, no way to
    gain one, the filter loaded (where asked), and the sandbox's namespaces and root."""
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    wanted = {"CapInh": "0" * 16, "CapPrm": "0" * 16, "CapEff": "0" * 16, "CapBnd": "0" * 16,
              "CapAmb": "0" * 16, "NoNewPrivs": "1"}
    if seccomp:
        wanted["Seccomp"] = "2"
    for key, value in wanted.items():
        if status.get(key, [None])[0] != value:
            raise OSError(f"not confined: {key} is {status.get(key)}")
    if any(int(x) != uid for x in status["Uid"] + status["Gid"]) or status.get("Groups", []) != []:
        raise OSError(f"not confined: uid {status['Uid']}, gid {status['Gid']}")
    for name, inode in (namespaces or {}).items():
        if os.stat(f"/proc/self/ns/{name}").st_ino != inode:
            raise OSError(f"not confined: not the sandbox's {name} namespace")
    here = os.stat("/")
    if root is not None and (here.st_dev, here.st_ino) != tuple(root):
        raise OSError("not confined: not the sandbox's root")
