"""Dropping root after the capture handles are open (--user / --group): the mechanics.

Opening a live capture needs root (or CAP_NET_RAW and CAP_NET_ADMIN); reading packets
from an open handle does not. wirescore.session runs the steps in order (resolve, open,
prepare_outputs, drop, check_writable); this module does each:

    target = resolve("wirescore", None)             # before anything: bad names fail early
    prepare_outputs(target, log_dir, ["eve.json"])  # created, owned by the target user
    drop(target)                                    # setgroups, setresgid, setresuid
    check_writable(target, log_dir, ["eve.json"])   # as the target user now

drop() clears the supplementary groups, sets the real, effective and saved group and
user ids, and checks that it stuck (ids read back, no capability left, root not
recoverable); any failure is a one-line WirescoreError and the run must not go on.

Files: the log directory and the output files are created (owned by the target user)
before dropping; after dropping, the directory must be writable (SIGHUP reopens
eve.json by name after logrotate moved it) and the files writable, or the run stops
with a message saying what to chown.
"""
from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from wirescore.errors import WirescoreError
from wirescore.outputs.paths import DIR_MODE, FILE_MODE


@dataclass(frozen=True)
class Target:
    """Who to become: numeric ids and names (for messages)."""

    uid: int
    gid: int
    user: str
    group: str


def _lookup_user(user: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        pass
    if user.isdigit():
        try:
            return pwd.getpwuid(int(user))
        except KeyError:
            raise WirescoreError(f"--user {user}: no user with that id") from None
    raise WirescoreError(f"--user {user}: no such user")


def _lookup_group(group: str) -> tuple[int, str]:
    try:
        entry = grp.getgrnam(group)
        return entry.gr_gid, entry.gr_name
    except KeyError:
        pass
    if group.isdigit():
        try:
            return int(group), grp.getgrgid(int(group)).gr_name
        except KeyError:
            return int(group), group
    raise WirescoreError(f"--group {group}: no such group")


def resolve(user: str | None, group: str | None) -> Target | None:
    """The ids to drop to, or None when neither --user nor --group is given. The group
    defaults to the user's primary group; --group alone keeps the current user."""
    if not user and not group:
        return None
    if user:
        pw = _lookup_user(str(user))
        uid, name, gid = pw.pw_uid, pw.pw_name, pw.pw_gid
        try:
            gname = grp.getgrgid(gid).gr_name
        except KeyError:
            gname = str(gid)
    else:
        uid = os.getuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        gid, gname = os.getgid(), ""
    if group:
        gid, gname = _lookup_group(str(group))
    return Target(uid=uid, gid=gid, user=name, group=gname or str(gid))


def prepare_outputs(target: Target | None, log_dir: str | os.PathLike,
                    names: Iterable[str | os.PathLike] = ()) -> None:
    """Create log_dir and the named output files (relative to log_dir, or absolute) if
    missing, owned by the target user and group. Existing ones are left as they are
    (check_writable() says if they will not do)."""
    log_dir = Path(log_dir)
    if not log_dir.exists():
        try:
            log_dir.mkdir(mode=DIR_MODE, parents=True)
        except OSError as exc:
            raise WirescoreError(f"{log_dir}: cannot create log directory: "
                                 f"{exc.strerror}") from None
        _chown(log_dir, target)
    for name in names:
        path = log_dir / name
        if path.exists():
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                         FILE_MODE)
        except OSError as exc:
            raise WirescoreError(f"{path}: cannot create: {exc.strerror}") from None
        os.close(fd)
        _chown(path, target)


def _chown(path: Path, target: Target | None) -> None:
    if target is None or os.geteuid() != 0:
        return
    try:
        os.chown(path, target.uid, target.gid)
    except OSError as exc:
        raise WirescoreError(f"{path}: cannot give it to {target.user}: {exc.strerror}") from None


def drop(target: Target | None) -> None:
    """Become target (all of real, effective and saved ids; no supplementary groups)
    and check it stuck. Raises WirescoreError (the run must stop) when it fails."""
    if target is None:
        return
    who = f"{target.user}:{target.group}"
    try:
        os.setgroups([])
        os.setresgid(target.gid, target.gid, target.gid)
        os.setresuid(target.uid, target.uid, target.uid)
    except PermissionError:
        raise WirescoreError(f"--user/--group {who}: cannot switch: operation not permitted "
                             "(only root can change user; without --user the capture "
                             "runs as the current user)") from None
    except OSError as exc:
        raise WirescoreError(f"--user/--group {who}: cannot switch: {exc.strerror}") from None
    problems = []
    if os.getresuid() != (target.uid,) * 3:
        problems.append(f"user ids are {os.getresuid()}")
    if os.getresgid() != (target.gid,) * 3:
        problems.append(f"group ids are {os.getresgid()}")
    if set(os.getgroups()) - {target.gid}:
        problems.append(f"supplementary groups {os.getgroups()} remain")
    if target.uid != 0:
        for regain in (lambda: os.setuid(0), lambda: os.seteuid(0)):
            try:
                regain()
            except PermissionError:
                continue
            problems.append("root could be regained")
            break
        caps = _capabilities()
        if caps:
            problems.append(f"capabilities remain ({caps})")
    if problems:
        raise WirescoreError(f"--user/--group {who}: dropping privileges did not stick: "
                             + "; ".join(problems))


def _capabilities() -> str:
    """Non-zero CapPrm/CapEff lines of /proc/self/status ('' when none or unreadable)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return ""
    left = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("CapPrm", "CapEff") and int(value.strip() or "0", 16):
            left.append(f"{key} {value.strip()}")
    return ", ".join(left)


def check_writable(target: Target | None, log_dir: str | os.PathLike,
                   names: Iterable[str | os.PathLike] = ()) -> None:
    """After drop(): the log directory and the named outputs (relative to log_dir, or
    absolute) must be writable by who we are now; one that does not exist yet must not
    be hidden behind a folder we cannot enter."""
    if target is None:
        return
    log_dir = Path(log_dir)
    fix = f"chown {target.user} {log_dir}, or choose another -l"
    if not os.access(log_dir, os.W_OK | os.X_OK):
        raise WirescoreError(f"{log_dir}: not writable by user {target.user} after dropping "
                             f"privileges (eve.json is reopened there on SIGHUP): {fix}")
    for name in names:
        path = log_dir / name
        try:
            path.stat()
        except FileNotFoundError:
            continue
        except OSError:
            pass                    # there, but not reachable as this user
        if not os.access(path, os.W_OK):
            raise WirescoreError(f"{path}: not writable by user {target.user} after dropping "
                                 f"privileges: chown {target.user} {path}")
