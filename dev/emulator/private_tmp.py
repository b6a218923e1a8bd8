"""The worker's mount namespace: Lambda's ``/tmp`` (private, empty, sized, gone with the environment) and its
read-only task root.

On Lambda every execution environment has its own ``/tmp`` (512 MB by default, up to 10 GB with
``ephemeral_storage``): a file written there survives between invocations of that environment and is seen by no
other. Where the kernel allows it, the worker gets exactly that: a mount namespace of its own (``unshare``) with a
``tmpfs`` of that size on ``/tmp``; the namespace, and the files, end with the worker's last process.

- as root: ``unshare(CLONE_NEWNS)``;
- otherwise: ``unshare(CLONE_NEWUSER | CLONE_NEWNS)`` with the user's own uid and gid mapped to themselves (an
  unprivileged user namespace, as ``unshare --user --map-current-user`` does), where the kernel allows those.

A path under ``/tmp`` that the worker itself needs (the project, the settings module, the virtualenv, when they live
there) is bound back into the new ``/tmp`` at the same place before the function runs, so the private ``/tmp`` holds
those paths and nothing else.

In the same namespace the task root (the project, ``LAMBDA_TASK_ROOT``) is bound onto itself read-only, as
``/var/task`` is on Lambda: a function that writes there (SQLite beside the code, a cache, an upload) fails here with
Lambda's ``[Errno 30] Read-only file system`` instead of working on a laptop and failing after deploy. The
functions' own virtualenv and the bytecode cache stay writable when they live inside the project: they stand in for
the packages Lambda ships pre-compiled in the zip. The emulator's change watcher runs outside the namespace and sees
every edit as before.

Elsewhere (macOS, containers that forbid ``unshare``) :mod:`.environment` points ``TMPDIR`` at a private directory
instead, and the emulator says plainly that absolute ``/tmp`` paths are then shared.

This file runs inside the worker, under the project's interpreter, before anything else is imported: the standard
library only (``ctypes``), and nothing newer than Python 3.7. ``python private_tmp.py SIZE_MB`` is the start-up probe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import stat
import sys

TMP = "/tmp"
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 2
MS_NODEV = 4
MS_RDONLY = 1
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_RELATIME = 1 << 21
MS_PRIVATE = 1 << 18


class PrivateTmpUnavailable(OSError):
    """This process cannot get a private /tmp; the message says why (for the banner)."""


def _libc() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):
        raise PrivateTmpUnavailable("mount namespaces are Linux-only")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
    libc.unshare.argtypes = (ctypes.c_int,)
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise PrivateTmpUnavailable(f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text else None


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data))
    _check(result, f"mount {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _enter_namespace(libc: ctypes.CDLL) -> str:
    """A new mount namespace (and, without root, a user namespace that maps us to ourselves); its kind."""
    if os.geteuid() == 0:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        return "mount namespace"
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    return "user and mount namespace"


def _under_tmp(path: str) -> bool:
    return path == TMP or path.startswith(TMP + "/")


def _outermost(paths: list[str]) -> list[str]:
    """The paths that are not inside another one of them (binding a parent also brings its children)."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def paths_to_keep(extra: list[str]) -> list[str]:
    """What the worker needs under /tmp: ``extra`` (task root, settings module, HOME), the interpreter and every
    ``sys.path`` entry, the Unix sockets directly in /tmp (a local PostgreSQL's or MySQL's) and the /tmp paths named
    in this process's variables (``?host=/tmp/...`` in a passed DATABASE_URL): those stay reachable, nothing else."""
    candidates = [*extra, sys.prefix, sys.exec_prefix, *sys.path]
    for value in os.environ.values():
        candidates += re.findall(r"/tmp/[^\s&;,'\"?#]+", value)
    try:
        with os.scandir(TMP) as entries:
            candidates += [e.path for e in entries if stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode)]
    except OSError:
        pass
    return [path for path in candidates if path and os.path.exists(path)]


def make_private(size_mb: int, keep: list[str]) -> str:
    """Give this process a private, empty ``/tmp`` of ``size_mb`` MB; paths in ``keep`` that lie under ``/tmp`` stay
    reachable at the same place. Returns how it was done; raises PrivateTmpUnavailable."""
    libc = _libc()
    kept = _outermost([os.path.realpath(p) for p in keep if p and _under_tmp(os.path.realpath(p))])
    if TMP in kept:
        raise PrivateTmpUnavailable("the project itself is /tmp")
    kind = _enter_namespace(libc)
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates back to the host
    # Hold what we must keep before /tmp is covered: /proc/self/fd/N still reaches it afterwards.
    held = [(path, os.open(path, os.O_PATH), os.path.isdir(path)) for path in kept]
    _mount(libc, "tmpfs", TMP, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(size_mb)}m,mode=1777")
    for path, fd, is_dir in held:
        if is_dir:
            os.makedirs(path, exist_ok=True)
        else:  # a socket or a file: bound onto an empty file of the same name
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    return f"{kind}, tmpfs {int(size_mb)} MB"


def _locked_flags(path: str) -> int:
    """The mount flags of ``path`` a remount must keep (in a user namespace the kernel refuses to drop them)."""
    flags = os.statvfs(path).f_flag
    pairs = (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (getattr(os, "ST_RELATIME", 4096), MS_RELATIME),
    )
    return sum(mount_flag for stat_flag, mount_flag in pairs if flags & stat_flag)


def writable_inside(task_root: str) -> list[str]:
    """What stays writable inside a read-only task root: this interpreter's virtualenv and the bytecode cache, when
    they live in the project (Lambda ships both inside the read-only zip, already compiled; here they are filled as
    the functions run, and making them read-only would only make every cold start compile again)."""
    root = os.path.realpath(task_root)
    candidates = [sys.prefix, getattr(sys, "pycache_prefix", None) or ""]
    inside = [os.path.realpath(path) for path in candidates if path and os.path.isdir(path)]
    return _outermost([path for path in inside if path != root and path.startswith(root + os.sep)])


def make_read_only(task_root: str, writable: list[str]) -> str:
    """Bind ``task_root`` onto itself read-only inside this process's mount namespace (:func:`make_private` must have
    made one); the directories in ``writable`` (inside it) stay writable. Raises PrivateTmpUnavailable."""
    libc = _libc()
    root = os.path.realpath(task_root)
    held = [(path, os.open(path, os.O_PATH)) for path in writable]  # the writable mount, before it is covered
    _mount(libc, root, root, None, MS_BIND | MS_REC)
    _mount(libc, None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(root))
    for path, fd in held:
        _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
    return "read-only"


def probe(size_mb: int, task_root: str = "") -> dict[str, object]:
    """Try it in this (throw-away) process: a private /tmp it can write, and ``task_root`` read-only (checked with
    ``os.access``, which honours a read-only mount, so nothing is written there): what the emulator's banner says."""
    try:
        how = make_private(size_mb, [task_root] if task_root else [])
        with open(os.path.join(TMP, "probe"), "w") as handle:
            handle.write("ok")
    except (OSError, AttributeError) as exc:  # AttributeError: a libc without unshare (not glibc/musl)
        return {"private": False, "reason": str(exc), "read_only": False, "read_only_reason": str(exc)}
    answer: dict[str, object] = {"private": True, "how": how, "read_only": False}
    if not task_root:
        return answer
    try:
        make_read_only(task_root, writable_inside(task_root))
        if os.access(task_root, os.W_OK):
            raise PrivateTmpUnavailable("the task root is still writable after a read-only bind")
        answer.update(read_only=True, writable=writable_inside(task_root))
    except OSError as exc:
        answer["read_only_reason"] = str(exc)
    return answer


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    print(json.dumps(probe(size, sys.argv[2] if len(sys.argv) > 2 else "")))
