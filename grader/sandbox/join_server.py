"""How a kernel forked by the kernel zygote enters a sandbox that bubblewrap has built
(``grader.sandbox.join``); part of the zygote's own program (``zygote.kernel_command`` runs this
file's text before ``zygote_server.py``'s), so standard library only, and no ``__future__``
import.

Why: a sandboxed kernel started afresh imports TensorFlow, Keras and ipykernel itself (~3.3
CPU-s, most of a cold batch's work). Here bubblewrap still builds the sandbox exactly as for a
fresh kernel (namespaces, mounts, uid map, ``--disable-userns``) around a small *holder*
process; a kernel forked from the zygote (root, with those modules imported) then joins it:

- its supervisor (``zygote_server._supervise``) joins the holder's PID namespace, so that the
  kernel it forks is born inside it;
- the kernel joins the limits' cgroups, lowers its rlimits, drops its groups, joins the
  holder's cgroup, IPC, UTS, network and mount namespaces, takes the holder's root as its own
  (chroot), joins the holder's user namespace (the nested one that cannot create another),
  empties its bounding and ambient capability sets, becomes the sandbox uid, clears every
  capability, sets no-new-privileges and loads the sandbox's seccomp filter;
- then it checks all of that in ``/proc/self/status`` and exits (code ``JOIN_FAILED``) unless
  every item holds: a kernel that could not be confined never runs a cell.

The namespaces are opened by path under ``/proc/PID`` of the holder and each one's inode is
compared with what bubblewrap reported for its sandbox (``--info-fd``), so a pid reused by
another process is refused. Every file descriptor but the kernel's standard streams is closed
before the kernel starts (``zygote_server._become_kernel``).
"""
import ctypes
import os
import resource

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
#: joined in this order, the user namespace last (the others are owned by the sandbox's outer
#: user namespace, which the nested one gives no capability over)
NAMESPACES = (("cgroup", CLONE_NEWCGROUP), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS),
              ("net", CLONE_NEWNET), ("mnt", CLONE_NEWNS))
PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_CAP_AMBIENT, PR_SET_NO_NEW_PRIVS = 24, 22, 47, 38
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 4, 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: the exit code of a kernel that could not enter its sandbox
JOIN_FAILED = 98


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _call(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def namespace_fd(join: dict, name: str) -> int:
    """The holder's namespace ``name``, opened; refused unless it is the sandbox's (the inode
    bubblewrap reported; the user namespace: not this process's own)."""
    fd = os.open(f"/proc/{int(join['holder'])}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    found = os.fstat(fd).st_ino
    expected = join["namespaces"].get(name)
    if (expected is not None and found != expected) or \
            (name == "user" and found == os.stat("/proc/self/ns/user").st_ino):
        os.close(fd)
        raise OSError(f"the holder's {name} namespace is not the sandbox's")
    return fd


def join_pid_namespace(join: dict) -> None:
    """In the supervisor: the kernel it forks next is born in the sandbox's PID namespace."""
    fd = namespace_fd(join, "pid")
    try:
        _call(_libc().setns(fd, CLONE_NEWPID), "setns(pid)")
    finally:
        os.close(fd)


def join_sandbox(join: dict) -> None:
    """In the kernel, before anything else runs there: enter and confine (module docstring)."""
    libc = _libc()
    for procs in join["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    fds = {name: namespace_fd(join, name) for name, _ in NAMESPACES}
    fds["user"] = namespace_fd(join, "user")
    root = os.open(f"/proc/{int(join['holder'])}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name, (soft, hard) in join["rlimits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.setgroups([])
        for name, flag in NAMESPACES:
            _call(libc.setns(fds[name], flag), f"setns({name})")
        os.fchdir(root)
        os.chroot(".")
        _call(libc.setns(fds["user"], CLONE_NEWUSER), "setns(user)")
    finally:
        for fd in [*fds.values(), root]:
            os.close(fd)
    os.chdir(join["cwd"])
    _drop_privileges(libc, int(join["uid"]), bytes.fromhex(join["seccomp"]))
    check_confined(int(join["uid"]), bool(join["seccomp"]))


def _drop_privileges(libc, uid: int, seccomp: bytes) -> None:
    for cap in range(64):  # the bounding set first: dropping it needs CAP_SETPCAP
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # EINVAL: past the last capability this kernel knows
    _call(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient caps")
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header, data = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    _call(libc.capset(ctypes.byref(header), data), "capset")
    os.umask(0o077)
    _call(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if seccomp:
        buffer = ctypes.create_string_buffer(seccomp, len(seccomp))
        program = _SockFprog(len(seccomp) // 8, ctypes.addressof(buffer))
        _call(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0),
              "seccomp")


def check_confined(uid: int, seccomp: bool) -> None:
    """Raise unless this process is the sandbox uid with no capability of any kind, no way to
    gain one, and (where asked) the filter loaded."""
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
