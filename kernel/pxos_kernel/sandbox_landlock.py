"""Landlock (Linux 5.13+) and a seccomp filter: the sandbox's second mechanism, with no privileges at all.

Landlock lets an unprivileged process give up access to every path except
the ones it names; the kernel then refuses everything else with EACCES, for
it and for everything it starts. The standard library has no binding, so the
three system calls are made through ctypes. The supervisor builds the
ruleset (:func:`ruleset`) before it forks; the child, between ``fork`` and
``exec``, sets ``no_new_privs`` and enforces it (:func:`enforce`).

Landlock does not govern connecting to a unix socket by its path, so the
child also installs a seccomp filter that refuses ``socket(AF_UNIX, ...)``
(and ``io_uring_setup``, which could create sockets past the filter) with
EACCES. From ABI 6 Landlock also scopes abstract unix sockets and signals to
the sandbox, and from ABI 4 it refuses TCP ``bind``/``connect``.

Also here: what a child does to itself between fork and exec when bubblewrap
does not do it for it (an empty network namespace, no capabilities, death
with its supervisor).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import struct
from typing import Optional, Sequence

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

# Filesystem access rights, by the ABI version that introduced them.
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ_RIGHTS = _EXECUTE | _READ_FILE | _READ_DIR
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1

# seccomp: (audit arch, socket(2) number) per machine.
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_IO_URING_SETUP = 425

_libc: Optional[ctypes.CDLL] = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
    return _libc


def abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or switched off at boot)."""
    try:
        version = _c().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION_FLAG))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _handled_fs(version: int) -> int:
    rights = _FS_ABI1
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def ruleset(read_only: Sequence[str], writable: Sequence[str]) -> int:
    """A ruleset fd granting read (and execute) beneath ``read_only`` and everything beneath ``writable``."""
    version = abi()
    if version < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
    handled = _handled_fs(version)
    attr = struct.pack("QQQ", handled, _NET_BIND_TCP | _NET_CONNECT_TCP if version >= 4 else 0,
                       _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24
    libc = _c()
    fd = libc.syscall(_CREATE_RULESET, ctypes.c_char_p(attr[:size]), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        writable_rights = handled & ~(_MAKE_CHAR | _MAKE_BLOCK | _IOCTL_DEV)  # no device nodes, even as root
        for paths, rights in ((read_only, _READ_RIGHTS), (writable, writable_rights)):
            for path in paths:
                _allow(fd, path, rights & handled)
    except OSError:
        os.close(fd)
        raise
    return int(fd)


def _allow(fd: int, path: str, rights: int) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = struct.pack("=Qi", rights, target)  # struct landlock_path_beneath_attr is packed
        if _c().syscall(_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.c_char_p(rule),
                        ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule for {path} failed")
    finally:
        os.close(target)


def socket_filter() -> Optional[bytes]:
    """A BPF filter refusing socket(AF_UNIX) and io_uring_setup with EACCES, or None on other machines."""
    if platform.machine() not in _ARCHES:
        return None
    arch, socket_nr = _ARCHES[platform.machine()]
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EACCES

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    return b"".join([
        op(load, 4),                     # 0: the architecture
        op(jeq, arch, 1, 0),             # 1: ours -> 3
        op(ret, deny),                   # 2: a foreign ABI (i386 int 0x80) gets nothing
        op(load, 0),                     # 3: the system call number
        op(jge, 0x40000000, 5, 0),       # 4: x32 numbers -> 10
        op(jeq, _IO_URING_SETUP, 4, 0),  # 5: io_uring_setup -> 10
        op(jeq, socket_nr, 0, 2),        # 6: socket -> 7, anything else -> 9
        op(load, 16),                    # 7: its first argument, the address family
        op(jeq, 1, 1, 0),                # 8: AF_UNIX -> 10
        op(ret, allow),                  # 9
        op(ret, deny),                   # 10
    ])


def enforce(fd: int, filter_program: Optional[bytes]) -> None:
    """In the child, between fork and exec: no new privileges, the ruleset, the socket filter."""
    libc = _c()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    if filter_program is not None:
        buffer = ctypes.create_string_buffer(filter_program)
        prog = struct.pack("HxxxxxxQ", len(filter_program) // 8, ctypes.addressof(buffer))
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.c_char_p(prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def probe() -> dict:
    """What Landlock really does here, tried in a forked child: a path outside is refused, AF_UNIX too."""
    version = abi()
    result = {"works": False, "abi": version, "unix_blocked": False, "unshare_net": _unshare_net(),
              "detail": ""}
    if version < 1:
        result["problem"] = "Landlock is not in this kernel (Linux 5.13+ with lsm=landlock)"
        return result
    try:
        fd = ruleset([], [])
    except OSError as exc:
        result["problem"] = f"Landlock rulesets cannot be made here: {exc}"
        return result
    program = socket_filter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        code = 0
        try:
            enforce(fd, program)
            try:
                os.listdir("/")
            except PermissionError:
                code |= 1
            try:
                import socket

                socket.socket(socket.AF_UNIX).close()
            except PermissionError:
                code |= 2
        except OSError:
            code = 64
        os._exit(code)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 64 or not code & 1:
        result["problem"] = "a Landlock ruleset was not enforced here (seccomp or Landlock refused)"
        return result
    result.update(works=True, unix_blocked=bool(code & 2))
    result["detail"] = (f"ABI {version}: paths outside the view refused" +
                        ("; AF_UNIX sockets refused by seccomp" if code & 2 else
                         "; unix sockets NOT blocked (no seccomp filter for this machine)") +
                        ("; TCP bind/connect refused" if version >= 4 else "") +
                        ("; abstract unix sockets and signals scoped" if version >= 6 else ""))
    return result


_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_PR_CAPBSET_DROP = 24


def isolate_network() -> None:
    """Move the calling process into a new, empty network namespace (a user namespace too when not root)."""
    libc = _c()
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        if libc.unshare(_CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        return
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER | CLONE_NEWNET) failed")
    for name, text in (("setgroups", b"deny"), ("uid_map", b"%d %d 1" % (uid, uid)),
                       ("gid_map", b"%d %d 1" % (gid, gid))):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, text)
        finally:
            os.close(fd)


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL the calling process when the thread that started it ends (bubblewrap's
    ``--die-with-parent``); with a cgroup, the next run then kills whatever the process left."""
    if _c().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as stream:
            return int(stream.read())
    except (OSError, ValueError):
        return 40


def drop_capabilities(last: int) -> None:
    """Empty the capability bounding set, so that nothing executed from here on has a capability, root or not."""
    libc = _c()
    for cap in range(last + 1):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap}) failed")


def _unshare_net() -> bool:
    """Whether this process may make an empty network namespace for a child (tried in a forked child)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child
        try:
            isolate_network()
            code = 0
        except OSError:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
