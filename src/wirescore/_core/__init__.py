"""Compiled core (built from ext/*.pyx; ext/README.md has the map of its rooms): decode,
flowtable (FlowMeter), eve, hst, ctables (its name tables as compiled).

A checkout where the core was never compiled (or was built for another Python) has no
extension module here; importing any of them then fails with one line that says how to
build it (scikit-learn's __check_build idea), instead of "No module named ...".
"""
import importlib.machinery as _machinery
from pathlib import Path as _Path

from wirescore.errors import WirescoreError as _WirescoreError


class CoreNotBuilt(_WirescoreError, ImportError):
    """The compiled core is missing (a WirescoreError: commands print it as one line)."""


def _check_build() -> None:
    here = _Path(__file__).resolve().parent
    if any(p.name.endswith(suffix) for p in here.iterdir()
           for suffix in _machinery.EXTENSION_SUFFIXES):
        return
    repo = here.parents[2]
    how = (f"cd {repo} && make install (or: pip install -e .), which compiles ext/*.pyx"
           if (repo / "setup.py").is_file() else "reinstall wirescore (pip install wirescore)")
    raise CoreNotBuilt(f"wirescore's compiled core is not built in {here}: {how}")


_check_build()
