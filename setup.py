"""Build the compiled core (ext/*.pyx -> wirescore._core.*).

Only the extension modules live here, and the header of the core's name lists that they
are compiled with (ext/includes/names.h, generated from src/wirescore/core_names.py);
everything else is in pyproject.toml. This file never imports wirescore.

Environment:
  WIRESCORE_DEBUG=1   compile with Cython bounds/wraparound checks on, -O0 -g
                      (fuzzing and debugging; explicit packet length checks are
                      in the code whatever this says).
  WIRESCORE_ASAN=1    add -fsanitize=address (with WIRESCORE_DEBUG: -O1 -g);
                      tests/fuzz/run.py sets both.
"""
import glob
import os
import runpy
import sys

from setuptools import Extension, setup

MIN_CYTHON = (3, 0)

try:
    import Cython
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - build front-ends install it from pyproject
    sys.exit("wirescore: building needs Cython >= 3.0 (pip install 'Cython>=3.0')")

if tuple(int(p) for p in Cython.__version__.split(".")[:2]) < MIN_CYTHON:
    sys.exit(f"wirescore: Cython {Cython.__version__} is too old; need >= 3.0 "
             "(pip install -U Cython)")

import numpy  # noqa: E402  (after the Cython check, so the message above wins)

DEBUG = os.environ.get("WIRESCORE_DEBUG", "") not in ("", "0")

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
ASAN = os.environ.get("WIRESCORE_ASAN", "") not in ("", "0")
# -O1 under ASAN, as its documentation advises: a few times faster than -O0 (fuzzing runs
# millions of inputs) with the same checks; -O0 for a plain debug build (a debugger)
cflags = (["-O1" if ASAN else "-O0", "-g"]) if DEBUG else ["-O3"]
if ASAN:
    cflags += ["-fsanitize=address", "-fno-omit-frame-pointer"]

MODULES = ["ctables", "decode", "appcore", "flowtable", "eve", "evedns", "hst", "pcapfile"]

# The core's name lists live in one Python file; the C enums and name tables are made
# from it (run on its own: it is plain data, and this file never imports wirescore).
NAMES_SOURCE = "src/wirescore/core_names.py"
NAMES_HEADER = "ext/includes/names.h"


def write_names_header() -> None:
    """ext/includes/names.h from NAMES_SOURCE, rewritten only when it changes (so an
    unchanged list does not recompile the core)."""
    text = runpy.run_path(NAMES_SOURCE)["c_header"]()
    try:
        with open(NAMES_HEADER) as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(NAMES_HEADER, "w") as fh:
        fh.write(text)


write_names_header()

extensions = [
    Extension(
        f"wirescore._core.{name}",
        [f"ext/{name}.pyx"],
        include_dirs=["ext", "ext/includes", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=cflags,
        depends=[NAMES_HEADER, *glob.glob("ext/*.pxd"), *glob.glob("ext/app/*.pxd")],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["ext", "ext/includes"],
        compiler_directives=directives,
    ),
)
