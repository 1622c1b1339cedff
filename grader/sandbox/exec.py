"""The first process of a sandboxed kernel: runs as root for a moment, then becomes bubblewrap
(rootless levels: runs as the user throughout, and skips the uid switch).

    python -I -S sandbox_exec.py PLAN.json [CONNECTION_FILE]

Started by jupyter_client (through ``SandboxLauncher``'s argv), it joins the kernel's cgroups,
hands the connection file to the sandbox uid, makes the read-only sources that only root may
reach (a Python installed under /root) visible to that uid by bind-mounting them in a private
mount namespace, opens files for bwrap (``@open:PATH`` arguments become inherited file
descriptors), lowers the rlimits, drops to the unprivileged uid with no groups and no way to
regain privileges, and execs bwrap with an empty environment. Standard library only: it runs
with ``-I -S`` so that nothing from the grader's environment or site-packages is imported.
"""
import ctypes
import json
import os
import resource
import sys

PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
OPEN_MARK, WRITE_MARK = "@open:", "@write:"
CONNECTION_MARK = "@connection_file"


def main(plan_path: str, connection_file: str | None) -> None:
    with open(plan_path) as f:
        plan = json.load(f)
    for procs in plan["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    uid = int(plan["uid"])
    switch = uid != os.getuid()
    if connection_file and switch:
        os.chown(connection_file, uid, uid)
    libc = ctypes.CDLL(None, use_errno=True)
    _bind_read_only(libc, plan["binds"])
    argv = [_resolve(arg, connection_file) for arg in plan["argv"]]
    for name, (soft, hard) in plan["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.umask(0o077)
    if switch:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    # changing uid made the process non-dumpable: bwrap could not use /proc/self/fd/N
    for option in (PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS):
        if libc.prctl(option, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl({option}) failed")
    os.execve(argv[0], argv, plan.get("env", {}))


def _bind_read_only(libc, binds: list) -> None:
    """In a mount namespace of this process only: each source, read-only, at its target."""
    if not binds:
        return
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    for source, target in binds:
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None),
               f"bind {source}")
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        _check(libc.mount(None, target.encode(), None, flags, None), f"read-only {target}")


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _resolve(arg: str, connection_file: str | None) -> str:
    """``@open:PATH`` / ``@write:PATH`` → the number of an inherited fd open on PATH for reading
    / writing (opened before the uid switch, so the sandbox uid needs no access to PATH)."""
    for mark, flags in ((OPEN_MARK, os.O_RDONLY), (WRITE_MARK, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        if arg.startswith(mark):
            fd = os.open(arg[len(mark):], flags | os.O_NOFOLLOW, 0o600)
            os.set_inheritable(fd, True)
            return str(fd)
    if arg == CONNECTION_MARK:
        if not connection_file:
            raise SystemExit("sandbox_exec: no connection file given")
        return connection_file
    return arg


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    except Exception as exc:  # the grader reads this from the kernel's stderr
        print(f"sandbox_exec: cannot start the sandbox: {exc!r}", file=sys.stderr)
        sys.exit(97)
