"""The benchmarks find the shared folder from the repository, whatever the working
directory, or say in one line every place they looked (benchmarks/shared_data.py);
`make bench-short` runs from any working directory."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED, shared_available

SCRIPTS = ("eval_mix.py", "eval_onnx.py", "scan_detect.py")


def copy_benchmarks(root: Path) -> Path:
    """benchmarks/ copied into root/repo/ (a repository with no shared folder near it)."""
    repo = root / "repo"
    shutil.copytree(REPO / "benchmarks", repo / "benchmarks",
                    ignore=shutil.ignore_patterns(".cache", ".results", "__pycache__"))
    return repo


def run(cmd, cwd, env_shared=None):
    import os

    env = {k: v for k, v in os.environ.items() if k != "WIRESCORE_SHARED"}
    if env_shared is not None:
        env["WIRESCORE_SHARED"] = str(env_shared)
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def find_shared_in(repo: Path, cwd: Path, env_shared=None):
    code = (f"import sys; sys.path.insert(0, {str(repo / 'benchmarks')!r}); "
            "import shared_data; print(shared_data.find_shared())")
    return run([sys.executable, "-c", code], cwd, env_shared)


@pytest.mark.skipif(not shared_available(), reason="needs ../shared beside the repository")
def test_found_from_the_repository_whatever_the_working_directory(tmp_path):
    proc = find_shared_in(REPO, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == SHARED


def test_a_worktree_finds_the_shared_folder_beside_its_main_checkout(tmp_path):
    """A git worktree elsewhere: its .git file points into the main checkout's .git;
    the shared folder beside the main checkout is found."""
    (tmp_path / "team" / "shared" / "data").mkdir(parents=True)
    (tmp_path / "team" / "main" / ".git" / "worktrees" / "wt").mkdir(parents=True)
    repo = copy_benchmarks(tmp_path / "elsewhere")
    gitdir = tmp_path / "team" / "main" / ".git" / "worktrees" / "wt"
    (repo / ".git").write_text(f"gitdir: {gitdir}\n")
    proc = find_shared_in(repo, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == tmp_path / "team" / "shared"
    # WIRESCORE_SHARED wins
    (tmp_path / "other" / "data").mkdir(parents=True)
    proc = find_shared_in(repo, tmp_path, env_shared=tmp_path / "other")
    assert Path(proc.stdout.strip()) == tmp_path / "other"


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_script_says_in_one_line_where_it_looked(tmp_path, script):
    repo = copy_benchmarks(tmp_path / "a" / "b")
    proc = run([sys.executable, repo / "benchmarks" / script], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{Path(script).stem}: the shared folder")
    for place in (tmp_path / "a" / "b" / "shared", tmp_path / "a" / "shared",
                  tmp_path / "shared"):
        assert str(place) in lines[0]
    assert "WIRESCORE_SHARED" in lines[0]


def test_the_bench_capture_fixture_says_where_it_looked(tmp_path):
    repo = copy_benchmarks(tmp_path)
    proc = run([sys.executable, "-m", "pytest", repo / "benchmarks" / "test_throughput.py",
                "-q", "--bench-short", "-p", "no:cacheprovider", "-k", "test_bare_pcapy_loop"],
               tmp_path)
    assert proc.returncode != 0
    assert f"the shared folder (with data/ and tools/) is not where the benchmarks look: " \
           f"{tmp_path / 'shared'}" in proc.stdout


def test_make_bench_short_runs_in_the_repository_from_any_directory(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("needs make")
    proc = run([make, "-n", "-f", REPO / "Makefile", "bench-short"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stdout.splitlines() if "benchmarks" in line]
    assert steps and all(line.startswith(f"cd {REPO} && {REPO}/.venv/bin/python")
                         for line in steps), proc.stdout
