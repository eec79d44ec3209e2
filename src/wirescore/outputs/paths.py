"""Where a run writes, and the check that it can, before the first packet.

A run writes into the log directory (-l): the EVE file (outputs.eve.filename, a plain
name inside it; with --eve-per-worker one eve.<n>.json per worker;
none when the main EVE output is not a file, outputs/eve_targets.py), the alert logs when
on (outputs.cef.filename, outputs.notice.filename: plain names; with workers one
<name>.<n>.<ext> per worker) and, with detection and snippets on, the snippets
directory pcaps/; and the export (--export, anywhere; with
workers one <name>.<n>.<ext> per worker). check() looks at each before anything is read
(and before privileges are dropped: the writes happen after) and refuses the first that
cannot be written in one line: '<path>: cannot write the <what> here: <why>'. It creates
nothing: a path that does not exist yet passes when its nearest existing folder is
writable (the export's own folder must exist, or be the log directory, which the run
creates).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wirescore.errors import WirescoreError

FILE_MODE = 0o640       # files describing other people's traffic
DIR_MODE = 0o750
SNIPPETS_DIR = "pcaps"


@dataclass(frozen=True)
class Output:
    """One path a run writes: what it is (for messages) and whether it is a folder."""

    path: Path
    what: str
    is_dir: bool = False


def eve_filename(cfg) -> str:
    """outputs.eve.filename, refused in one line unless a plain name (no /, no NUL,
    not . or ..: a file inside the log directory), or for a unix socket an absolute
    path."""
    name = cfg["outputs.eve.filename"]
    check_path_name(name, "outputs.eve.filename",
                    absolute=cfg["outputs.eve.filetype"] in ("unix_stream", "unix_dgram"))
    return name


#: the alert logs (outputs/alert_logs.py): setting prefix, what (for messages)
ALERT_LOGS = (("outputs.cef", "CEF log"), ("outputs.notice", "notice log"))


def log_filename(cfg, key: str) -> str:
    """The setting `key` (a file name inside the log directory), refused in one line
    unless a plain name (no /, no NUL, not . or ..): the file stays inside the log
    directory."""
    name = cfg[key]
    if (not name or name in (".", "..") or "/" in name or "\0" in name
            or os.sep in name):
        raise WirescoreError(f"{key} {name!r}: must be a plain file name "
                             "inside the log directory (no /, no NUL, not . or ..)")
    return name


def per_worker_name(filename: str, index: int) -> str:
    """eve.json -> eve.1.json; flows.csv -> flows.1.csv (index from 1)."""
    p = Path(filename)
    return str(p.with_name(f"{p.stem}.{index}{p.suffix}"))


def check_path_name(name: str, what: str, absolute: bool = False) -> None:
    """A name inside the log directory (no /), or with absolute=True (a socket another
    program made) also an absolute path; never empty, '.', '..' or with a NUL. A file
    wirescore writes stays inside the log directory whatever the settings say."""
    if (not name or name in (".", "..") or "\0" in name
            or ("/" in name and not (absolute and name.startswith("/")))):
        where = ("a plain name inside the log directory or an absolute path (no NUL, "
                 "not . or ..)" if absolute else
                 "a plain file name inside the log directory (no /, no NUL, not . or ..)")
        raise WirescoreError(f"{what} {name!r}: must be {where}")


def run_outputs(cfg, log_dir: str | os.PathLike, workers: int = 0,
                per_worker_files: bool = False, more_eve: tuple = ()) -> list[Output]:
    """Every path a run with these settings writes. workers: 0 for a run in this
    process, else the number of worker processes (their exports get a .<n> suffix, and
    with per_worker_files their EVE files too); more_eve: the file names of the regular
    outputs.eve.also outputs (outputs/eve_targets.py regular_files)."""
    log_dir = Path(log_dir)
    eve = eve_filename(cfg)
    out = [Output(log_dir, "log directory", is_dir=True)]
    if workers and per_worker_files:
        out += [Output(log_dir / per_worker_name(eve, i), "EVE file")
                for i in range(1, workers + 1)]
    elif cfg["outputs.eve.filetype"] == "regular":
        out.append(Output(log_dir / eve, "EVE file"))
    out += [Output(log_dir / name, "EVE file") for name in more_eve]
    for prefix, what in ALERT_LOGS:
        if cfg[f"{prefix}.enabled"]:
            name = log_filename(cfg, f"{prefix}.filename")
            names = ([per_worker_name(name, i) for i in range(1, workers + 1)] if workers
                     else [name])
            out += [Output(log_dir / n, what) for n in names]
    export = cfg["outputs.export"]
    if export:
        names = ([per_worker_name(export, i) for i in range(1, workers + 1)] if workers
                 else [export])
        out += [Output(Path(name).resolve(), "export") for name in names]
    if cfg["detect.enabled"] and cfg["outputs.snippets.enabled"]:
        out.append(Output(log_dir / SNIPPETS_DIR, "snippets directory", is_dir=True))
    return out


def check(outputs: list[Output]) -> None:
    """Refuse, in one line, the first output that cannot be written (see the module
    docstring); creates nothing. The log directory (the first output, as run_outputs
    lists them) and its missing parents count as folders the run creates."""
    created = set()
    if outputs and outputs[0].what == "log directory":
        folder = Path(os.path.abspath(outputs[0].path))
        while not folder.exists() and folder != folder.parent:
            created.add(folder)
            folder = folder.parent
    for out in outputs:
        problem = _problem(out, created)
        if problem:
            raise WirescoreError(f"{out.path}: cannot write the {out.what} here: {problem}")


def _problem(out: Output, created: set) -> str | None:
    path = out.path
    if path.exists():
        if out.is_dir and not path.is_dir():
            return "not a directory"
        if not out.is_dir and path.is_dir():
            return "is a directory"
        need = os.W_OK | os.X_OK if out.is_dir else os.W_OK
        return None if os.access(path, need) else _why_not(path)
    parent = Path(os.path.abspath(path.parent))
    if out.what == "export" and not parent.is_dir() and parent not in created:
        return f"folder {path.parent} does not exist"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a directory"
    return None if os.access(folder, os.W_OK | os.X_OK) else _why_not(folder)


def _why_not(path: Path) -> str:
    """Why an existing path is not writable: its file system is read-only, or the
    permissions say no."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"


def make_log_dir(log_dir: str | os.PathLike) -> Path:
    """The log directory, created (mode 0750 whatever the umask) when missing; another
    process (a worker) creating it at the same time is fine."""
    log_dir = Path(log_dir)
    try:
        if not log_dir.is_dir():
            log_dir.mkdir(parents=True, mode=DIR_MODE)
            os.chmod(log_dir, DIR_MODE)
    except FileExistsError:
        if not log_dir.is_dir():
            raise WirescoreError(f"{log_dir}: cannot create log directory: a file is "
                                 "in the way") from None
    except OSError as exc:
        raise WirescoreError(f"{log_dir}: cannot create log directory: "
                             f"{exc.strerror}") from None
    return log_dir
