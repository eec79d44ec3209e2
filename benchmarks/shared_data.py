"""Where the team's shared folder is, for every benchmark (whatever the working directory).

The shared folder holds ``data/`` (captures, the evaluation mix, the bench sources) and
``tools/`` (make-bench-pcap.sh, make_eval_mix.py). It is looked for, in this order:

1. ``WIRESCORE_SHARED``, when set (then only there);
2. ``shared/`` beside the repository, and beside each folder above it;
3. for a git worktree (its ``.git`` is a file pointing into the main checkout's
   ``.git``), ``shared/`` beside the main checkout, and above it.

The first that holds ``data/`` wins. When none does, SharedNotFound says in one line
every place that was looked at and how to point at the folder.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = "WIRESCORE_SHARED"


class SharedNotFound(RuntimeError):
    """The shared folder is nowhere it was looked for (the message lists where)."""


def candidates(repo: Path = REPO) -> list[Path]:
    """The folders that may be the shared folder, in the order they are tried."""
    if os.environ.get(ENV):
        return [Path(os.environ[ENV]).expanduser().resolve()]
    roots = [repo]
    main = _main_checkout(repo)
    if main is not None and main != repo:
        roots.append(main)
    out: list[Path] = []
    for root in roots:
        for folder in root.parents:
            place = folder / "shared"
            if place not in out:
                out.append(place)
    return out


def find_shared(repo: Path = REPO) -> Path:
    """The shared folder (module docstring); SharedNotFound when there is none."""
    looked = candidates(repo)
    for place in looked:
        if (place / "data").is_dir():
            return place
    where = ", ".join(str(p) for p in looked)
    how = (f"{ENV} points at no folder with data/" if os.environ.get(ENV)
           else f"set {ENV}=/path/to/shared")
    raise SharedNotFound(f"the shared folder (with data/ and tools/) is not where the "
                         f"benchmarks look: {where}; {how}")


def shared_path(*parts: str, repo: Path = REPO) -> Path:
    """A path inside the shared folder; when there is none, inside the first place it
    was looked for (a path that does not exist: shared_or_exit says why)."""
    try:
        return find_shared(repo).joinpath(*parts)
    except SharedNotFound:
        return candidates(repo)[0].joinpath(*parts)


def shared_or_exit(script: str, repo: Path = REPO) -> Path:
    """find_shared() for a script: on failure, the one-line message and exit status 2."""
    try:
        return find_shared(repo)
    except SharedNotFound as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _main_checkout(repo: Path) -> Path | None:
    """The main checkout of a git worktree (its .git file says
    "gitdir: <main>/.git/worktrees/<name>"), or None."""
    marker = repo / ".git"
    if not marker.is_file():
        return None
    try:
        text = marker.read_text().strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text[len("gitdir:"):].strip())
    if not gitdir.is_absolute():
        gitdir = (repo / gitdir).resolve()
    if gitdir.parent.name == "worktrees" and gitdir.parent.parent.name == ".git":
        return gitdir.parent.parent.parent
    return None
