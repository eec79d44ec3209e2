#!/usr/bin/env python3
"""Build the core for fuzzing and run an atheris target (tests/fuzz/fuzz_core.py, or with
--target reader tests/fuzz/fuzz_reader.py: the capture reader and the BPF interpreter).

    python tests/fuzz/run.py smoke                 # CI: 25 s, fixed seed, fails on a finding
    python tests/fuzz/run.py long --runs 10000000  # the long run (see README.md)
    python tests/fuzz/run.py repro FILE...         # replay inputs (a crash, a corpus file)
    python tests/fuzz/run.py minimize CRASH        # shrink a crashing input
    python tests/fuzz/run.py bench [DIR...]        # replay inputs, inputs/s (no libFuzzer)
    python tests/fuzz/run.py build                 # only build
    python tests/fuzz/run.py seeds                 # rewrite tests/fuzz/seeds/ (committed)
    python tests/fuzz/run.py --target reader smoke # the same commands for the reader target
    python tests/fuzz/run.py --target msg_tls smoke   # ... and the TLS message parsers
    python tests/fuzz/run.py --target msg_krb smoke   # ... and the Kerberos/LDAP/SSH/BER parsers
    python tests/fuzz/run.py --target app smoke    # ... and the application layer's
    python tests/fuzz/run.py --target models smoke # ... and the native models against numpy

Builds go to build/fuzz/<variant>/ (build/fuzz/<variant>@<ref> with --source REF) from a
copy of ext/, setup.py and the core's name lists (src/wirescore/core_names.py), so the
in-tree extension (src/wirescore/_core/*.so) and the generated ext/*.c are never touched; the
fuzz target loads the copy through WIRESCORE_FUZZ_LIB. Variants (--sanitizer):

  asan      clang -fsanitize=address,undefined,fuzzer-no-link, WIRESCORE_DEBUG=1 (Cython
            bounds checks, -O0 -g); runs with LD_PRELOAD=<atheris>/asan_with_fuzzer.so (ASAN's
            runtime, which carries UBSan's handlers, with libFuzzer in it; shipped in
            atheris' wheel). libFuzzer sees the core's edge coverage: this is the
            coverage-guided native build.
  asan-gcc  gcc -fsanitize=address (WIRESCORE_ASAN=1), WIRESCORE_DEBUG=1; runs with
            LD_PRELOAD=$(gcc -print-file-name=libasan.so). Memory errors are caught but
            libFuzzer sees only the Python side's coverage (gcc has no libFuzzer counters).
  debug     gcc, WIRESCORE_DEBUG=1 only: contract checks and Cython bounds checks.
  auto      asan when clang and atheris' asan_with_fuzzer.so exist, else asan-gcc when
            gcc's libasan exists, else debug (the default).

Every variant runs with ASAN_OPTIONS=detect_leaks=0 (the interpreter keeps memory to exit)
plus clear_shadow_mmap_threshold=2**40 (speed only; see run_env()). Python's own allocator
stays on (PYTHONMALLOC=malloc would put every Python object in an ASAN-checked block, at
a third of the inputs a second): the target hands the core only numpy arrays and C
buffers, which are malloc'd whatever Python does, so every byte the core reads or writes
is checked; run with PYTHONMALLOC=malloc in the environment to check Python's objects too.

--lean (before the subcommand) runs the target's throughput mode (fuzz_core.run_lean:
the same inputs through the same core calls, the accounting checks only; README "Lean
mode"), for the long run's millions of inputs (the core target only).

--target (before the subcommand) picks the target; each has its own seeds, dictionary and
build/fuzz/ corpus, artifacts and logs (suffixed -reader for the reader target).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = REPO / "build" / "fuzz"
REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions"


@dataclass(frozen=True)
class Target:
    """A fuzz target: its script, committed seeds, libFuzzer dictionary, regression
    inputs, the suffix of its build/fuzz/ files (corpus, artifacts, logs), and the
    extension modules it needs (setup.py's MODULES names; empty: all of them)."""
    script: Path
    seeds: Path
    dict: Path
    regressions: Path
    suffix: str
    modules: tuple[str, ...] = ()


TARGETS = {
    "core": Target(HERE / "fuzz_core.py", HERE / "seeds", HERE / "fuzz.dict", REGRESSIONS, ""),
    "reader": Target(HERE / "fuzz_reader.py", HERE / "seeds-reader", HERE / "fuzz-reader.dict",
                     REGRESSIONS / "reader", "-reader"),
    "msg_tls": Target(HERE / "fuzz_msg_tls.py", HERE / "seeds-msg_tls",
                      HERE / "fuzz-msg_tls.dict", REGRESSIONS / "msg_tls", "-msg_tls"),
    "msg_win": Target(HERE / "fuzz_msg_win.py", HERE / "seeds-msg_win", HERE / "fuzz-msg_win.dict",
                      REGRESSIONS / "msg_win", "-msg_win"),
    "msg_krb": Target(HERE / "fuzz_msg_krb.py", HERE / "seeds-msg_krb",
                      HERE / "fuzz-msg_krb.dict", REGRESSIONS / "msg_krb", "-msg_krb",
                      ("app/msg_ber", "app/msg_krb5", "app/msg_ldap", "app/msg_ssh",
                       "app/msg_bytes")),
    "app": Target(HERE / "fuzz_app.py", HERE / "seeds-app", HERE / "fuzz-app.dict",
                  REGRESSIONS / "app", "-app"),
    "models": Target(HERE / "fuzz_models.py", HERE / "seeds-models", HERE / "fuzz-models.dict",
                     REGRESSIONS / "models", "-models", ("extreme", "tail", "eve")),
}
MAX_LEN = 8192
CLANGS = ("clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14")


def log(msg: str) -> None:
    print(f"fuzz: {msg}", file=sys.stderr, flush=True)


# ---- toolchain ----------------------------------------------------------------------------

def find_clang() -> str | None:
    return next((c for c in CLANGS if shutil.which(c)), None)


def atheris_dir() -> Path | None:
    try:
        import atheris
    except ImportError:
        return None
    return Path(atheris.path())


def gcc_libasan() -> str | None:
    if not shutil.which("gcc"):
        return None
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True).stdout.strip()
    return out if out and os.path.isabs(out) and os.path.exists(out) else None


def choose(variant: str) -> str:
    if variant != "auto":
        return variant
    adir = atheris_dir()
    if find_clang() and adir and (adir / "asan_with_fuzzer.so").exists():
        return "asan"
    if gcc_libasan():
        return "asan-gcc"
    return "debug"


# ---- building -----------------------------------------------------------------------------

# the name lists (setup.py reads them and generates their headers) and the data files
# they read
NAMES_SOURCES = ("src/wirescore/core_names.py", "src/wirescore/tls_names.py",
                 "src/wirescore/win_names.py", "src/wirescore/msg_names.py")
NAMES_DATA = "src/wirescore/data/win"
GENERATED = ("names.h", "tls_names.h", "win_names.h", "msg_names.h")


def _source_files(source: str) -> dict[str, bytes]:
    """{relative path: content} of ext/, setup.py and the core's name lists, from the work
    tree or a git ref (a ref before the name lists moved there has none)."""
    files: dict[str, bytes] = {}
    if source == "worktree":
        for p in sorted((REPO / "ext").rglob("*")):
            if p.is_file() and p.suffix in (".pyx", ".pxd", ".h", ".pxi") and \
                    p.name not in GENERATED:         # generated by setup.py
                files[str(p.relative_to(REPO))] = p.read_bytes()
        for name in ("setup.py",) + NAMES_SOURCES:
            if (REPO / name).is_file():
                files[name] = (REPO / name).read_bytes()
        for p in sorted((REPO / NAMES_DATA).glob("*")):
            files[str(p.relative_to(REPO))] = p.read_bytes()
        return files
    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", source,
                            "ext", "setup.py", *NAMES_SOURCES, NAMES_DATA], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        if Path(name).suffix in (".pyx", ".pxd", ".h", ".pxi") or name in (
                "setup.py", *NAMES_SOURCES) or name.startswith(NAMES_DATA):
            files[name] = subprocess.run(["git", "-C", str(REPO), "show", f"{source}:{name}"],
                                         check=True, capture_output=True).stdout
    return files


def build(variant: str, source: str = "worktree", quiet: bool = True,
          modules: tuple[str, ...] = ()) -> Path:
    """Build the core for `variant` into build/fuzz/<variant>/lib (skipped when the
    sources and flags are unchanged); returns the lib directory. With `modules`, only
    those (into build/fuzz/<variant>-<their names>/): the target imports the rest from
    the installed build, unsanitized."""
    env = dict(os.environ, WIRESCORE_DEBUG="1")
    env.pop("WIRESCORE_MODULES", None)
    if modules:
        env["WIRESCORE_MODULES"] = ",".join(modules)
    env.pop("WIRESCORE_ASAN", None)
    if variant == "asan":
        clang = find_clang()
        if not clang:
            raise SystemExit("fuzz: --sanitizer asan needs clang (apt-get install clang)")
        env.update(CC=clang, LDSHARED=f"{clang} -shared",
                   CFLAGS="-fsanitize=address,undefined,fuzzer-no-link "
                          "-fno-sanitize-recover=undefined -fno-omit-frame-pointer",
                   WIRESCORE_ASAN="1")
    elif variant == "asan-gcc":
        env.update(CC="gcc", LDSHARED="gcc -shared", WIRESCORE_ASAN="1")
    elif variant != "debug":
        raise SystemExit(f"fuzz: unknown variant {variant}")
    files = _source_files(source)
    digest = hashlib.sha256()
    for name, content in sorted(files.items()):
        digest.update(name.encode() + b"\0" + content)
    digest.update(repr(sorted((k, v) for k, v in env.items()
                              if k in ("CC", "CFLAGS", "LDSHARED", "WIRESCORE_ASAN",
                                       "WIRESCORE_DEBUG", "WIRESCORE_MODULES"))).encode())
    import numpy
    digest.update(numpy.__version__.encode() + sys.version.encode())
    stamp = digest.hexdigest()
    name = variant + ("-" + "+".join(m.rpartition("/")[2] for m in modules) if modules else "")
    root = BUILD / (name if source == "worktree" else f"{name}@{source}")
    lib = root / "lib"
    if (root / "stamp").exists() and (root / "stamp").read_text() == stamp and \
            len(list((lib / "wirescore" / "_core").glob("*.so"))) >= 3:
        return lib
    log(f"building the core ({variant}, from {source}) in {root}")
    shutil.rmtree(root, ignore_errors=True)
    src = root / "src"
    for name, content in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(content)
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "-b", str(lib),
                           "-t", str(root / "tmp")], cwd=src, env=env,
                          capture_output=quiet, text=True)
    if proc.returncode != 0:
        sys.stderr.write((proc.stderr or "")[-6000:])
        raise SystemExit(f"fuzz: building the {variant} core failed")
    (root / "stamp").write_text(stamp)
    return lib


def run_env(variant: str, lib: Path) -> dict:
    env = dict(os.environ, WIRESCORE_FUZZ_LIB=str(lib))
    # clear_shadow_mmap_threshold: ASAN zeroes the shadow of a large region (a freed
    # meter's 20 MB window or context tables, a 512 KB counter array) with memset rather
    # than by remapping it, so the shadow pages stay mapped instead of faulting back in at
    # the next allocation: a quarter less time an input, nothing checked differently
    # (README "Speed")
    asan = ["detect_leaks=0", "allocator_may_return_null=1", "handle_abort=1",
            "symbolize=1", "detect_stack_use_after_return=0",
            f"clear_shadow_mmap_threshold={1 << 40}"]
    if variant == "asan":
        env["LD_PRELOAD"] = str(atheris_dir() / "asan_with_fuzzer.so")
    elif variant == "asan-gcc":
        env["LD_PRELOAD"] = gcc_libasan()
    if variant.startswith("asan"):
        env["ASAN_OPTIONS"] = ":".join(asan + ([env["ASAN_OPTIONS"]]
                                                if os.environ.get("ASAN_OPTIONS") else []))
    return env


# ---- seeds --------------------------------------------------------------------------------

def write_target_seeds(target: Target) -> int:
    """A target's seeds from its own seeds() (fuzz_reader, fuzz_app, fuzz_msg_*)."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(REPO / "tests"))
    module = importlib.import_module(target.script.stem)

    return _write_seeds(target, module.seeds())


def _write_seeds(target: Target, seeds: dict[str, bytes]) -> int:
    """Replace the target's seed folder with these inputs; how many."""
    shutil.rmtree(target.seeds, ignore_errors=True)
    target.seeds.mkdir(parents=True)
    for name, data in sorted(seeds.items()):
        assert len(data) <= MAX_LEN, (name, len(data))
        (target.seeds / name).write_bytes(data)
    return len(seeds)


def write_seeds() -> int:
    """Seed inputs: crafted frames of every link type, the decode edge cases of
    test_flow_accounting, and slices of the shipped captures, with a few option sets."""
    sys.path.insert(0, str(REPO / "tests"))
    import fuzz_core as fc
    import test_flow_accounting as tfa
    from flowref import read_capture

    seeds: dict[str, bytes] = {}

    def add(name, linktype, frames, codes=None, variants=((0x01, 0x00, 0x07),)):
        codes = codes or [1] * len(frames)
        for k, (flags, tsel, msel) in enumerate(variants):
            seeds[f"{name}-{k}"] = fc.build(linktype, flags, tsel, msel,
                                             list(zip(codes, frames)))

    several = ((0x01, 0x00, 0x07), (0x35, 0x95, 0x82), (0x8e, 0x6b, 0x19), (0x52, 0xde, 0x00))
    for linktype, frames in tfa.crafted_captures().items():
        add(f"crafted-{linktype}", linktype, frames, variants=several)
    for case, frames in tfa.EDGE_CASES.items():
        add(f"edge-{case}", 1, frames, codes=[160 + 2 * (i % 3) for i in range(len(frames))])
    v4, tcp4, v6, icmp6 = tfa.l3_frames()
    ppp = [b"\xff\x03\x00\x21" + v4, b"\x00\x57" + v6, b"\x21" + tcp4, b"\xff\x03\xc0\x21" + b"\0" * 8,
           b"\x0f\x00\x08\x00" + v4, b"\x8f\x00\x86\xdd" + v6, b"\xff", b"\xff\x03"]
    add("crafted-ppp", 9, ppp, variants=several)
    add("crafted-ppp-serial", 50, ppp, variants=several[:2])
    add("crafted-chdlc", 104, [b"\x0f\x00\x08\x00" + v4, b"\x8f\x00\x86\xdd" + v6,
                               b"\x0f\x00\x81\x00\x00\x05\x08\x00" + tcp4,
                               b"\x0f\x00\x80\x35" + b"\0" * 20, b"\x0f\x00"], variants=several)
    for lt in (12, 14):
        add(f"crafted-raw{lt}", lt, [v4, v6, tcp4, icmp6, b"\x50" + b"\0" * 30, b""],
            variants=several[:2])
    # TCP teardown, reuse, a SYN flood and a fragment train on Ethernet
    eth = lambda p: tfa.ether(0x0800, p)                                  # noqa: E731
    conv = [eth(tfa.ipv4(6, tfa.tcp(1000, 80, f), src=s, dst=d))
            for f, s, d in ((0x02, tfa.A4, tfa.B4), (0x12, tfa.B4, tfa.A4), (0x10, tfa.A4, tfa.B4),
                            (0x11, tfa.A4, tfa.B4), (0x11, tfa.B4, tfa.A4), (0x10, tfa.A4, tfa.B4),
                            (0x02, tfa.A4, tfa.B4), (0x04, tfa.B4, tfa.A4))]
    add("tcp-conversation", 1, conv, codes=[1, 1, 1, 120, 1, 1, 170, 1], variants=several)
    flood = [eth(tfa.ipv4(6, tfa.tcp(1024 + i, 80, 0x02), src=f"10.1.{i // 250}.{i % 250 + 1}"))
             for i in range(40)]
    add("syn-flood", 1, flood, variants=((0x01, 0x00, 0x02), (0x11, 0x01, 0x00)))
    # ARP (arp.pxd): a sweep, a spoof's replies against learnt bindings, a gratuitous ARP,
    # a probe, a virtual router MAC, and bad headers (decode_arp's reasons), tagged too
    arp = lambda op, smac, sip, tmac, tip: tfa.ether(0x0806, bytes.fromhex(            # noqa: E731
        "0001080006040" + str(op)) + bytes.fromhex(smac) + bytes(sip) + bytes.fromhex(tmac)
        + bytes(tip))
    a_mac, b_mac, c_mac = "020000000001", "020000000002", "020000000003"
    arps = [arp(1, a_mac, [10, 0, 0, 1], "000000000000", [10, 0, 0, i]) for i in range(2, 22)]
    arps += [arp(2, b_mac, [10, 0, 0, 2], a_mac, [10, 0, 0, 1]),
             arp(2, c_mac, [10, 0, 0, 1], b_mac, [10, 0, 0, 2]),
             arp(1, c_mac, [10, 0, 0, 3], "000000000000", [10, 0, 0, 3]),
             arp(1, c_mac, [0, 0, 0, 0], "000000000000", [10, 0, 0, 2]),
             arp(2, "00005e000101", [10, 0, 0, 1], b_mac, [10, 0, 0, 2])]
    good = arps[-1]
    arps += [good[:14] + b"\x00\x06" + good[16:], good[:16] + b"\x86\xdd" + good[18:],
             good[:18] + b"\x08" + good[19:], good[:19] + b"\x10" + good[20:],
             good[:20] + b"\x00\x03" + good[22:], good[:30], good[:12] + b"\x81\x00\x00\x05"
             + good[12:]]
    add("arp", 1, arps, codes=[1] * 22 + [200, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], variants=several)
    frags = []
    for ident in range(6):
        frags.append(eth(tfa.ipv4(17, tfa.udp(5000 + ident, 53, b"x" * 16), ident=ident, more=True)))
        frags.append(eth(tfa.ipv4(17, b"z" * 16, ident=ident, offset=3)))
    add("fragments", 1, frags, variants=((0x01, 0x00, 0x07), (0x01, 0x00, 0x08)))
    # slices of the shipped captures (headers matter, payloads are cut to 160 bytes)
    for pcap in sorted((REPO / "tests" / "data" / "pcaps").iterdir()):
        try:
            cap = read_capture(pcap)
        except Exception:                                                 # noqa: BLE001
            continue
        if cap.linktype not in fc.LINKTYPES or not cap.frames:
            continue
        for k, start in enumerate(range(0, min(len(cap.frames), 240), 60)):
            frames = [f[:160] for f in cap.frames[start:start + 30]]
            times = cap.times_us[start:start + 30]
            codes = [1] + [min(99, max(0, (b - a) // 1000)) for a, b in zip(times, times[1:])]
            seeds[f"pcap-{pcap.stem}-{k}"] = fc.build(cap.linktype, 0x01, 0x00, 0x07,
                                                      list(zip(codes, frames)))
    return _write_seeds(TARGETS["core"], seeds)


# ---- running ------------------------------------------------------------------------------

def wrapper(target: Target) -> Path:
    """build/fuzz/<script>.sh: this interpreter on the target, for libFuzzer to re-execute."""
    path = BUILD / f"{target.script.stem}.sh"
    text = f'#!/bin/sh\nexec "{sys.executable}" "{target.script}" "$@"\n'
    BUILD.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        path.chmod(0o755)
    return path


def libfuzzer(variant: str, lib: Path, target: Target, args: list[str],
              log_path: Path | None = None, env_extra: dict | None = None) -> int:
    cmd = [str(wrapper(target)), *args]
    env = run_env(variant, lib)
    env.update(env_extra or {})
    env["WIRESCORE_FUZZ_ARGV0"] = cmd[0]
    log(f"{variant}: {' '.join(cmd)}")
    BUILD.mkdir(parents=True, exist_ok=True)      # cwd: libFuzzer's -jobs logs land there
    if log_path is None:
        return subprocess.run(cmd, env=env, cwd=BUILD).returncode
    with open(log_path, "w") as out:
        return subprocess.run(cmd, env=env, cwd=BUILD, stdout=out, stderr=subprocess.STDOUT
                              ).returncode


def common_args(artifacts: Path, target: Target) -> list[str]:
    artifacts.mkdir(parents=True, exist_ok=True)
    return [f"-max_len={MAX_LEN}", f"-dict={target.dict}", "-timeout=20", "-rss_limit_mb=3072",
            f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]


def executed(log_text: str) -> int:
    """Inputs run, from libFuzzer's 'Done N runs' or its last status line."""
    done = re.findall(r"Done (\d+) runs", log_text)
    if done:
        return int(done[-1])
    stat = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log_text)
    if stat:
        return int(stat[-1])
    status = re.findall(r"^#(\d+)\s", log_text, re.M)
    return int(status[-1]) if status else 0


def finding_digest(log_text: str, frames: int = 12, max_input: int = 4096) -> str:
    """What a finding's log says, in lines short enough to survive a CI log cut to its
    tail: the sanitizer's or the harness's error line, the first `frames` frames of
    its first stack, its SUMMARY line, and the crashing input (libFuzzer's "Test unit
    written to" file) in base64 when it has at most `max_input` bytes, to replay with
    `run.py repro` after `base64 -d`. Empty when the log names none of these."""
    import base64

    lines = log_text.splitlines()
    out = []
    start = next((i for i, ln in enumerate(lines)
                  if re.search(r"ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:|"
                               r"Uncaught Python exception|deadly signal", ln)), None)
    if start is not None:
        out.append(lines[start])
        stack = [ln for ln in lines[start + 1:] if re.match(r"\s+#\d+ ", ln)]
        out += stack[:frames]
    out += [ln for ln in lines if ln.startswith("SUMMARY:")][:1]
    unit = re.findall(r"Test unit written to (\S+)", log_text)
    if unit:
        path = Path(unit[-1])
        data = path.read_bytes() if path.is_file() else b""
        out.append(f"input: {path} ({len(data)} bytes)")
        if data and len(data) <= max_input:
            out.append("input base64: " + base64.b64encode(data).decode())
    if not out:
        return ""
    return "\n--- finding digest ---\n" + "\n".join(out) + "\n"


def cmd_smoke(a) -> int:
    variant = choose(a.sanitizer)
    lib = build(variant, a.source, modules=a.target.modules)
    t = a.target
    corpus = BUILD / f"corpus-smoke{t.suffix}"
    shutil.rmtree(corpus, ignore_errors=True)       # the same start on every run
    corpus.mkdir(parents=True)
    # the regression inputs too, so that each runs under ASAN on every smoke (the test
    # suite replays them only on the installed, unsanitized core)
    for path in sorted(t.regressions.glob("*.bin")) if t.regressions.is_dir() else []:
        shutil.copy(path, corpus / path.name)
    out = BUILD / f"smoke{t.suffix}.log"
    args = common_args(BUILD / f"artifacts-smoke{t.suffix}", t) + [
        f"-max_total_time={a.seconds}", f"-seed={a.seed}", str(corpus), str(t.seeds)]
    rc = libfuzzer(variant, lib, t, args + a.extra, log_path=out)
    text = out.read_text(errors="replace")
    n = executed(text)
    if rc != 0:
        sys.stderr.write(text[-8000:])
        sys.stderr.write(finding_digest(text))
        log(f"smoke ({variant}): FAILED after {n} inputs (exit {rc}); full log {out}")
        return 1
    log(f"smoke ({variant}): {n} inputs in {a.seconds} s, no finding (log {out})")
    if n < a.min_runs:
        log(f"smoke: fewer than {a.min_runs} inputs ran: the harness is not running")
        return 1
    return 0


def cmd_long(a) -> int:
    """--jobs workers, each running libFuzzer in chunks of --chunk inputs on the shared
    corpus (libFuzzer reloads it, so workers share what they find), until --runs inputs
    ran in all or --seconds passed. A crash is saved (build/fuzz/artifacts/) and the
    worker goes on with its next chunk; after --max-crashes crashes the run stops.
    (Plain workers rather than libFuzzer's -jobs/-fork: they count inputs and go on after
    a crash the same way whichever libFuzzer the variant loads.)"""
    import threading
    import time

    variant = choose(a.sanitizer)
    lib = build(variant, a.source, modules=a.target.modules)
    target = a.target
    corpus = Path(a.corpus) if a.corpus else BUILD / f"corpus{target.suffix}"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = BUILD / f"artifacts{target.suffix}"
    progress = BUILD / f"long-progress{target.suffix}.txt"
    lock = threading.Lock()
    state = {"runs": 0, "crashes": 0, "chunks": 0, "stop": False}
    started = time.monotonic()
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    source = a.source if a.source == "worktree" else subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", a.source], capture_output=True,
        text=True).stdout.strip() or a.source
    # each chunk's target writes its input count to long-wN.count every 1000 inputs
    # (WIRESCORE_FUZZ_COUNT), so that the progress file moves within a chunk
    counts = {k: BUILD / f"long{target.suffix}-w{k}.count" for k in range(a.jobs)}

    def live() -> int:
        n = 0
        for path in counts.values():
            try:
                n += int(path.read_text() or 0)
            except (OSError, ValueError):
                pass
        return n

    def note(running: int = 0) -> None:
        elapsed = time.monotonic() - started
        runs = state["runs"] + running
        mode = "lean" if os.environ.get("WIRESCORE_FUZZ_LEAN") == "1" else "full"
        progress.write_text(f"variant {variant}\nmode {mode}\nsource {source}\n"
                            f"started {since}\n"
                            f"inputs {runs}\n(of which {running} in the chunks running)\n"
                            f"chunks {state['chunks']}\ncrashes {state['crashes']}\n"
                            f"seconds {elapsed:.0f}\n"
                            f"inputs/s {runs / max(elapsed, 1):.0f}\n")

    def monitor() -> None:
        while not state["stop"]:
            time.sleep(30)
            with lock:
                if not state["stop"]:
                    note(live())

    def worker(k: int) -> None:
        chunk = 0
        while True:
            with lock:
                left = a.runs - state["runs"] if a.runs else a.chunk
                if state["stop"] or left <= 0 or \
                        (a.seconds and time.monotonic() - started >= a.seconds):
                    return
            chunk += 1
            logp = BUILD / f"long{target.suffix}-w{k}-{chunk:04d}.log"
            args = common_args(artifacts, target) + [f"-seed={a.seed * 1000 + k * 100 + chunk}",
                                             f"-runs={min(a.chunk, left)}"]
            if a.seconds:
                args.append(f"-max_total_time={max(1, int(a.seconds - (time.monotonic() - started)))}")
            counts[k].unlink(missing_ok=True)
            rc = libfuzzer(variant, lib, target, args + [str(corpus), str(target.seeds)] + a.extra,
                           log_path=logp, env_extra={"WIRESCORE_FUZZ_COUNT": str(counts[k])})
            n = executed(logp.read_text(errors="replace"))
            with lock:
                counts[k].unlink(missing_ok=True)
                state["runs"] += n
                state["chunks"] += 1
                if rc != 0:
                    state["crashes"] += 1
                    log(f"worker {k}: libFuzzer exit {rc} after {n} inputs: see {logp}")
                    if state["crashes"] >= a.max_crashes:
                        state["stop"] = True
                else:
                    logp.unlink()                       # keep the logs of findings only
                note(live())

    log(f"long run ({variant}): {a.jobs} worker(s), corpus {corpus}, progress in {progress}, "
        f"crashes in {artifacts}")
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.jobs)]
    for t in threads:
        t.start()
    threading.Thread(target=monitor, daemon=True).start()
    for t in threads:
        t.join()
    with lock:
        state["stop"] = True
        note()
    log(f"long run ({variant}): {state['runs']} inputs, {state['crashes']} crash(es)")
    return 1 if state["crashes"] else 0


def cmd_repro(a) -> int:
    variant = choose(a.sanitizer)
    lib = build(variant, a.source, modules=a.target.modules)
    files = [str(Path(f).resolve()) for f in a.files]
    return libfuzzer(variant, lib, a.target, ["-runs=1", *files])


BENCH = """
import importlib, sys, time
sys.path.insert(0, sys.argv[1])
target = importlib.import_module(sys.argv[2])
from pathlib import Path
limit = int(sys.argv[3])
files = sorted(p for d in sys.argv[4:] for p in (Path(d).iterdir() if Path(d).is_dir()
                                                 else [Path(d)])
               if p.is_file() and p.suffix != ".md")
datas = [p.read_bytes() for p in files][:limit or None]
wall, cpu = time.perf_counter(), time.process_time()
run = target.run_lean if getattr(target, "LEAN", False) else target.run_one
for data in datas:
    run(data)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(f"fuzz: bench: {len(datas)} inputs in {wall:.1f} s: {len(datas) / wall:.1f} inputs/s, "
      f"{len(datas) / cpu:.1f} per CPU-second", file=sys.stderr)
"""


def cmd_bench(a) -> int:
    """Replay inputs (files, or every file of a directory, in name order) through the
    target's run_one() (run_lean() with --lean) in the variant's environment, without libFuzzer: the target's own
    speed (libFuzzer adds ~10-20 %: mutation, coverage, CMP tracing)."""
    variant = choose(a.sanitizer)
    lib = build(variant, a.source, modules=a.target.modules)
    paths = [str(Path(p).resolve()) for p in (a.inputs or [BUILD / f"corpus{a.target.suffix}"])]
    cmd = [sys.executable, "-c", BENCH, str(HERE), a.target.script.stem, str(a.limit), *paths]
    log(f"bench ({variant}): replaying {', '.join(paths)}")
    return subprocess.run(cmd, env=run_env(variant, lib), cwd=REPO).returncode


def cmd_minimize(a) -> int:
    variant = choose(a.sanitizer)
    lib = build(variant, a.source, modules=a.target.modules)
    out = Path(a.output or (str(a.crash) + ".min")).resolve()
    rc = libfuzzer(variant, lib, a.target, ["-minimize_crash=1", f"-runs={a.runs}",
                                            f"-exact_artifact_path={out}",
                                            str(Path(a.crash).resolve())])
    log(f"minimized: {out} ({out.stat().st_size if out.exists() else '?'} bytes)")
    return rc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sanitizer", default="auto", choices=("auto", "asan", "asan-gcc", "debug"))
    p.add_argument("--source", default="worktree",
                   help="build from the work tree (default) or a git ref, e.g. HEAD")
    p.add_argument("--lean", action="store_true",
                   help="the target's throughput mode (accounting checks only)")
    p.add_argument("--target", default="core", choices=sorted(TARGETS),
                   help="core (fuzz_core.py, the default), reader (fuzz_reader.py), "
                        "app (fuzz_app.py: the application layer in the core), "
                        "msg_tls (fuzz_msg_tls.py: TLS hellos, certificates, X.509), "
                        "msg_win (fuzz_msg_win.py: the SMB/NTLMSSP/DCE-RPC message parsers) or "
                        "msg_krb (fuzz_msg_krb.py: the Kerberos/LDAP/SSH/BER/first-bytes parsers)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smoke", help="short fixed-budget run (CI)")
    s.add_argument("--seconds", type=int, default=25)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--min-runs", type=int, default=500)
    s = sub.add_parser("long", help="long run (millions of inputs)")
    s.add_argument("--runs", type=int, default=10_000_000)
    s.add_argument("--seconds", type=int, default=0)
    s.add_argument("--jobs", type=int, default=1)
    s.add_argument("--chunk", type=int, default=250_000, help="inputs per libFuzzer process")
    s.add_argument("--max-crashes", type=int, default=20)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--corpus", default=None)
    s = sub.add_parser("repro", help="run the given inputs once each")
    s.add_argument("files", nargs="+")
    s = sub.add_parser("minimize", help="shrink a crashing input")
    s.add_argument("crash")
    s.add_argument("--runs", type=int, default=200_000)
    s.add_argument("-o", "--output", default=None)
    s = sub.add_parser("bench", help="replay inputs through the target, inputs/s")
    s.add_argument("inputs", nargs="*", help="files or directories (default build/fuzz/corpus)")
    s.add_argument("--limit", type=int, default=0, help="at most this many inputs")
    sub.add_parser("build", help="build the variant only")
    sub.add_parser("seeds", help="rewrite the target's seeds (tests/fuzz/seeds*/)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:                                 # everything after -- goes to libFuzzer
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    a = p.parse_args(argv)
    a.extra = extra
    a.target = TARGETS[a.target]
    if a.lean:                                       # read by fuzz_core.py in each child
        os.environ["WIRESCORE_FUZZ_LEAN"] = "1"
    if a.cmd == "seeds":
        n = write_seeds() if a.target is TARGETS["core"] else write_target_seeds(a.target)
        log(f"{n} seeds written to {a.target.seeds}")
        return 0
    if a.cmd == "build":
        variant = choose(a.sanitizer)
        log(f"{variant}: {build(variant, a.source, quiet=False, modules=a.target.modules)}")
        return 0
    return {"smoke": cmd_smoke, "long": cmd_long, "repro": cmd_repro,
            "minimize": cmd_minimize, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
