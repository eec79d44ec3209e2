"""Build the compiled core (ext/*.pyx -> wirescore._core.*).

Only the extension modules live here, and the headers of the name lists that they are
compiled with (ext/includes/names.h from src/wirescore/core_names.py, tls_names.h from
src/wirescore/tls_names.py, win_names.h from src/wirescore/win_names.py and its data
files, msg_names.h from src/wirescore/msg_names.py); everything else is in
pyproject.toml. This file never imports wirescore.

Environment:
  WIRESCORE_DEBUG=1   compile with Cython bounds/wraparound checks on, -O0 -g
                      (fuzzing and debugging; explicit packet length checks are
                      in the code whatever this says).
  WIRESCORE_ASAN=1    add -fsanitize=address (with WIRESCORE_DEBUG: -O1 -g);
                      tests/fuzz/run.py sets both.
  WIRESCORE_MODULES=a,b  build only these of MODULES (a fuzz target's own modules:
                      tests/fuzz/run.py sets it for the message parsers' targets).
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

# ext/NAME.pyx -> wirescore._core.<last part of NAME> (app/msg_tls -> wirescore._core.msg_tls)
MODULES = ["ctables", "decode", "appcore", "flowtable", "eve", "evedns", "hst", "pcapfile",
           "app/msg_tls",
           "app/msg_smb", "app/msg_ntlmssp", "app/msg_dcerpc",
           "app/msg_ber", "app/msg_krb5", "app/msg_ldap", "app/msg_ssh", "app/msg_bytes",
           "firstseen",
           "eveapp",
           "sketch",
           "extreme",
           "tail",
           "entropy",
           "pktrows", "netmlseq"]

if os.environ.get("WIRESCORE_MODULES"):
    _only = os.environ["WIRESCORE_MODULES"].split(",")
    if set(_only) - set(MODULES):
        sys.exit(f"wirescore: WIRESCORE_MODULES names unknown modules: "
                 f"{sorted(set(_only) - set(MODULES))} (known: {MODULES})")
    MODULES = _only

# The core's name lists live in plain Python files; the C enums and name tables are made
# from them (each run on its own: plain data, and this file never imports wirescore):
# (source, generated header)
NAMES = (
    ("src/wirescore/core_names.py", "ext/includes/names.h"),
    ("src/wirescore/tls_names.py", "ext/includes/tls_names.h"),
    ("src/wirescore/win_names.py", "ext/includes/win_names.h"),
    ("src/wirescore/msg_names.py", "ext/includes/msg_names.h"),
)


def write_names_header(source: str, header: str) -> None:
    """header from source's c_header(), rewritten only when it changes (so an unchanged
    list does not recompile the core)."""
    text = runpy.run_path(source)["c_header"]()
    try:
        with open(header) as fh:
            if fh.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(header, "w") as fh:
        fh.write(text)


for _source, _header in NAMES:
    write_names_header(_source, _header)

extensions = [
    Extension(
        f"wirescore._core.{name.rpartition('/')[2]}",
        [f"ext/{name}.pyx"],
        include_dirs=["ext", "ext/app", "ext/includes", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=cflags,
        depends=[*(header for _, header in NAMES), *glob.glob("ext/*.pxd"),
                 *glob.glob("ext/app/*.pxd"), *glob.glob("ext/includes/*.h")],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["ext", "ext/app", "ext/includes"],
        compiler_directives=directives,
    ),
)
