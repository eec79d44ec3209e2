"""Dropping root after the capture handles are open (--user / --group).

Opening a live capture needs root (or CAP_NET_RAW and CAP_NET_ADMIN); reading packets
from an open handle does not. So a sensor started as root opens its interfaces, then
runs as an unprivileged user:

    target = resolve("wirescore", None)            # before anything else: bad names fail early
    profiles = preload(cfg)                        # imports and rules, while files are readable
    source = LiveSource("eth0", ...)               # as root
    drop_for_run(target, log_dir, cfg)             # outputs prepared, then setuid, checked
    Engine(cfg, log_dir, profiles=profiles).run_source(source)

drop() clears the supplementary groups, sets the real, effective and saved group and
user ids, and checks that it stuck (ids read back, no capability left, root not
recoverable); any failure is a one-line WirescoreError and the run must not go on.

Files: the log directory and the output files are created (owned by the target user)
before dropping; after dropping, the directory must be writable (SIGHUP reopens
eve.json by name after logrotate moved it) and the files writable, or the run stops
with a message saying what to chown. Modules the engine imports lazily, and the
detection rules, are loaded before dropping too: after it, the install (a virtualenv
under /root, say) may be unreadable.
"""
from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from wirescore.errors import WirescoreError

FILE_MODE = 0o640       # as outputs.eve: files describing other people's traffic
DIR_MODE = 0o750


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


def preload(cfg) -> list | None:
    """Import what Engine.run_source() imports lazily and load the detection profiles,
    so that nothing needs reading from the install after dropping. Returns the
    profiles to pass to Engine(profiles=...) (None when detection is off)."""
    import importlib

    for module in ("wirescore._core.eve", "wirescore._core.flowtable",
                   "wirescore._core.decode", "wirescore.outputs.eve",
                   "wirescore.outputs.export", "wirescore.outputs.snippets"):
        try:
            importlib.import_module(module)
        except ImportError:     # a module this version does not have
            pass

    export = cfg["outputs.export"]
    if export and str(export).endswith(".parquet"):
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            pass                    # the exporter reports it, with its own message
    if not cfg["detect.enabled"]:
        return None
    import wirescore.detect  # noqa: F401
    import wirescore.models.hst  # noqa: F401
    from wirescore.rules import default_rules_dir, load_paths

    paths = cfg["detect.rules"].split(",") if cfg["detect.rules"] else [default_rules_dir()]
    profiles = load_paths(paths)
    for p in profiles:
        name = p.model.get("name", "")
        if name.startswith("river:"):
            module = name[len("river:"):].rpartition(".")[0]
            try:
                importlib.import_module(f"river.{module}")
            except ImportError:
                pass                # Detector reports an unknown model by name
    return profiles


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
    """After drop(): the log directory and files must be writable by who we are now."""
    if target is None:
        return
    log_dir = Path(log_dir)
    fix = f"chown {target.user} {log_dir}, or choose another -l"
    if not os.access(log_dir, os.W_OK | os.X_OK):
        raise WirescoreError(f"{log_dir}: not writable by user {target.user} after dropping "
                             f"privileges (eve.json is reopened there on SIGHUP): {fix}")
    for name in names:
        path = log_dir / name
        if path.exists() and not os.access(path, os.W_OK):
            raise WirescoreError(f"{path}: not writable by user {target.user} after dropping "
                                 f"privileges: chown {target.user} {path}")


def output_names(cfg, eve_names: Iterable[str] | None = None) -> list[str]:
    """The files a run writes in (or, for an absolute export path, outside) log_dir."""
    names = list(eve_names) if eve_names is not None else [cfg["outputs.eve.filename"]]
    if cfg["outputs.export"]:
        names.append(str(Path(cfg["outputs.export"]).resolve()))
    return names


def drop_for_run(target: Target | None, log_dir: str | os.PathLike, cfg,
                 eve_names: Iterable[str] | None = None) -> None:
    """prepare_outputs(), drop(), check_writable() for one run's outputs."""
    if target is None:
        return
    names = output_names(cfg, eve_names)
    prepare_outputs(target, log_dir, names)
    drop(target)
    check_writable(target, log_dir, names)


def run_dropped(cfg, open_source, log_dir: str | os.PathLike, *, user: str | None = None,
                group: str | None = None, on_engine=None, on_progress=None):
    """One run in this process, in the order this module's docstring gives: resolve
    user/group, preload, open_source() (a callable returning a packet source, called
    with privileges), drop, then Engine.run_source() until the source ends or stop().

    on_engine(engine) is called before the run (the CLI installs its signal handlers
    there) and may return a function called after it. Returns the engine.Summary."""
    from wirescore.engine import Engine

    target = resolve(user, group)
    profiles = preload(cfg) if target is not None else None
    source = open_source()
    try:
        drop_for_run(target, log_dir, cfg)
    except BaseException:
        source.close()
        raise
    engine = Engine(cfg, log_dir, profiles=profiles, on_progress=on_progress)
    after = on_engine(engine) if on_engine is not None else None
    try:
        return engine.run_source(source)
    finally:
        if callable(after):
            after()
