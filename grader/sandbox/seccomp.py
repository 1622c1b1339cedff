"""A small seccomp filter for the sandboxed kernel, as the raw BPF program ``bwrap --seccomp``
loads (no libseccomp needed).

Why: a network namespace does not cover every socket family (``AF_VSOCK`` reaches the
hypervisor on a VM), and some syscalls only widen the kernel's attack surface. The filter
allows sockets of the families a kernel needs (unix for ZMQ's IPC transport, inet/inet6 for the
sandbox's own loopback, netlink which ZMQ uses to list interfaces) and refuses the others, plus
io_uring (it creates sockets without ``socket()``), ptrace, keyrings, BPF, perf events and
userfaultfd. Foreign-ABI syscalls (i386, x32) are refused so that none bypasses the table.
"""
from __future__ import annotations

import errno
import platform
import struct

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
LD_ABS_W, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16
X32_BIT = 0x40000000

#: socket families a kernel may create: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
ALLOWED_FAMILIES = (1, 2, 10, 16)

ARCHES = {
    # machine: (AUDIT_ARCH, socket, syscalls refused outright)
    "x86_64": (0xC000003E, 41, (101, 248, 249, 250, 298, 321, 323, 425, 426, 427)),
    "aarch64": (0xC00000B7, 198, (117, 217, 218, 219, 241, 280, 282, 425, 426, 427)),
}


def supported() -> bool:
    return platform.machine() in ARCHES


def program(machine: str | None = None) -> bytes:
    """The filter for this machine's architecture as packed ``struct sock_filter`` entries."""
    arch, socket_nr, refused = ARCHES[machine or platform.machine()]
    code: list[tuple[int, int | str, int | str, int]] = [
        (LD_ABS_W, 0, 0, OFFSET_ARCH),
        (JEQ_K, 0, "deny", arch),
        (LD_ABS_W, 0, 0, OFFSET_NR),
    ]
    if arch == ARCHES["x86_64"][0]:
        code.append((JGE_K, "deny", 0, X32_BIT))
    code += [(JEQ_K, "deny", 0, nr) for nr in refused]
    code += [(JEQ_K, 0, "allow", socket_nr), (LD_ABS_W, 0, 0, OFFSET_ARG0)]
    code += [(JEQ_K, "allow", 0, family) for family in ALLOWED_FAMILIES]
    labels = {"no_family": len(code), "allow": len(code) + 1, "deny": len(code) + 2}
    code += [(RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT),
             (RET_K, 0, 0, SECCOMP_RET_ALLOW),
             (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    out = bytearray()
    for index, (op, jt, jf, k) in enumerate(code):
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)
