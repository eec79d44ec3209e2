"""A checkout whose compiled core was never built: every command that needs the core
says in one line how to build it (wirescore._core's guard), never a traceback."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, REPO


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory):
    """A copy of the checkout's package and setup.py, without the compiled modules."""
    root = tmp_path_factory.mktemp("unbuilt")
    shutil.copytree(REPO / "src" / "wirescore", root / "src" / "wirescore",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    shutil.copy(REPO / "setup.py", root / "setup.py")
    return root


def cli(root, *args):
    code = (f"import sys; sys.path.insert(0, {str(root / 'src')!r}); "
            "from wirescore.cli import main; main(sys.argv[1:])")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, cwd=root, timeout=120)


@pytest.mark.parametrize("args", [
    ("rules", "check"),
    ("run", "-r", FIXTURES / "ndpi-synscan.pcap", "-l", "logs"),
], ids=["rules check", "run"])
def test_an_unbuilt_core_is_one_line_saying_how_to_build_it(unbuilt, args):
    proc = cli(unbuilt, *args)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"wirescore: error: wirescore's compiled core is not built in "
                     f"{unbuilt / 'src' / 'wirescore' / '_core'}: cd {unbuilt} && make install "
                     "(or: pip install -e .), which compiles ext/*.pyx"]


def test_commands_without_the_core_still_work(unbuilt):
    proc = cli(unbuilt, "features")
    assert proc.returncode == 0 and "flow.duration" in proc.stdout


def test_the_guard_is_an_import_error_too(unbuilt):
    """Code that expects ImportError for a missing core (pytest.importorskip) sees one."""
    code = (f"import sys; sys.path.insert(0, {str(unbuilt / 'src')!r})\n"
            "try:\n    import wirescore._core.hst\n"
            "except ImportError as exc:\n    print(type(exc).__name__)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "CoreNotBuilt"
