"""Flow accounting: wirescore's flow events against an independent reference.

For every capture in tests/data/pcaps and, when ../shared is present, every capture under
../shared/data/pcaps, `wirescore run -r X -l DIR --no-detect` must write flow events whose
packets and bytes, summed per canonical 5-tuple (vlan ids, IP protocol, endpoint pair),
equal those of tests/flowref.py, a dpkt-based reading of the decode and accounting rules of
the core contract. The core only starts a new flow for a key after the previous one ended,
so the sums do not depend on timeouts. Every flow event must also carry packets, the first
of them toserver, and the last stats event must count every frame read (decoder.pkts) and
the errors among them (decoder.invalid), as the reference does.

Captures the contract does not cover are skipped one by one with the reason (gzip'd traces,
link types outside the contract). A capture that libpcap cannot read to the end must make
wirescore exit with status 1 and a one-line error, after writing the flows of what it read.

The shared sweep runs about 570 captures; wirescore runs two at a time, one capture ahead of
the test asking for it (PrefetchRuns), so the sweep takes about a minute and a half on 2 cores
while every capture keeps its own test id.
"""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import FIXTURES, SHARED_DATA, fixture_captures, read_eve, shared_available
from flowref import (PORT_PROTOS, SUPPORTED_LINKTYPES, file_kind, flow_key, read_capture,
                     reference_flows)

PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58, "SCTP": 132}
LINKTYPE_NAMES = {9: "PPP", 104: "Cisco HDLC", 105: "IEEE 802.11", 127: "802.11 radiotap",
                  192: "PPI", 281: "Broadcom tag", 284: "DSA tag"}
MAX_LINES = 12          # mismatch lines shown per capture
GZIP_SUFFIXES = (".gz",)


# --------------------------------------------------------------------------------------
# Which captures, and which of them the contract covers
# --------------------------------------------------------------------------------------

def shared_root() -> Path:
    return SHARED_DATA / "pcaps"


def shared_capture_files() -> list[Path]:
    """Every capture file under ../shared/data/pcaps, gzip'd ones included (to skip)."""
    if not shared_available():
        return []
    names = (".pcap", ".pcapng", ".cap")
    return sorted(p for p in shared_root().rglob("*") if p.is_file() and
                  (p.suffix in names or p.name.endswith(tuple(n + ".gz" for n in names))))


def capture_params() -> list:
    """pytest params: fixtures first, then the shared captures, ids = relative paths."""
    params = [pytest.param(p, id=f"fixtures/{p.relative_to(FIXTURES)}")
              for p in fixture_captures()]
    params += [pytest.param(p, id=f"shared/{p.relative_to(shared_root())}",
                            marks=pytest.mark.shared)
               for p in shared_capture_files()]
    return params


def uncovered_reason(path: Path) -> str | None:
    """Why the contract does not cover this capture, or None when it does."""
    if path.name.endswith(GZIP_SUFFIXES) or file_kind(path) == "gzip":
        return "gzip'd trace: libpcap (so wirescore) reads no gzip"
    if file_kind(path) == "unknown":
        return "neither pcap nor pcapng (unknown magic number)"
    linktype = read_capture(path).linktype
    if linktype not in SUPPORTED_LINKTYPES:
        name = LINKTYPE_NAMES.get(linktype, "unnamed")
        return f"link type {linktype} ({name}) is outside the contract"
    return None


# --------------------------------------------------------------------------------------
# Running wirescore ahead of the tests
# --------------------------------------------------------------------------------------

class PrefetchRuns:
    """Runs `wirescore run -r X -l DIR --no-detect [extra]` two at a time, ahead of the tests.

    get(path) returns (events, CompletedProcess) like conftest's run_capture fixture (the
    command of conftest.run_wirescore), after starting the run of the next capture in test
    order, so that one runs while the test compares the other. Processes are started from
    the calling thread only (no thread pool: concurrent vfork+exec from threads sometimes
    failed with EFAULT); their output goes to files, so no pipe can fill up."""

    def __init__(self, order: list[Path], workdir: Path, extra: tuple = (), workers: int = 2,
                 wanted=lambda path: True):
        self._order = list(order)
        self._index = {p: i for i, p in enumerate(self._order)}
        self._workdir = Path(workdir)
        self._extra = tuple(map(str, extra))
        self._workers = workers
        self._wanted = wanted
        self._running = {}                    # path -> (Popen, logdir, cmd)
        self._serial = 0

    def _start(self, path: Path):
        if path in self._running:
            return
        self._serial += 1
        logdir = self._workdir / f"run{self._serial}"
        logdir.mkdir(parents=True)
        cmd = [sys.executable, "-m", "wirescore", "run", "-r", str(path), "-l", str(logdir),
               "--no-detect", *self._extra]
        with open(logdir / "stdout", "w") as out, open(logdir / "stderr", "w") as err:
            child = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self._running[path] = (child, logdir, cmd)

    def _finish(self, path: Path, timeout: float = 600):
        child, logdir, cmd = self._running.pop(path)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        proc = subprocess.CompletedProcess(cmd, child.returncode,
                                           (logdir / "stdout").read_text(errors="replace"),
                                           (logdir / "stderr").read_text(errors="replace"))
        events = read_eve(logdir) if (logdir / "eve.json").exists() else []
        shutil.rmtree(logdir, ignore_errors=True)
        return events, proc

    def get(self, path: Path):
        self._start(path)
        start = self._index.get(path, len(self._order))
        for nxt in self._order[start + 1:]:
            if len(self._running) >= self._workers:
                break
            if nxt not in self._running and self._wanted(nxt):
                self._start(nxt)
        return self._finish(path)

    def close(self):
        for path in list(self._running):
            self._finish(path)


@pytest.fixture(scope="module")
def prefetch(tmp_path_factory):
    paths = [p.values[0] for p in capture_params()]
    runs = PrefetchRuns(paths, tmp_path_factory.mktemp("flow_accounting"),
                        wanted=lambda path: uncovered_reason(path) is None)
    yield runs
    runs.close()


# --------------------------------------------------------------------------------------
# Reading the flow events
# --------------------------------------------------------------------------------------

def eve_flow_key(event: dict):
    """The canonical key of one EVE flow event (same shape as flowref.flow_key)."""
    proto_name = event["proto"]
    proto = PROTO_NUMBERS.get(proto_name)
    if proto is None:
        proto = int(proto_name)
    src = str(ipaddress.ip_address(event["src_ip"]))
    dst = str(ipaddress.ip_address(event["dest_ip"]))
    return flow_key(tuple(event.get("vlan", ())), proto, src, event.get("src_port", 0),
                    dst, event.get("dest_port", 0))


def flow_event_problems(event: dict) -> list[str]:
    """Contract rules one flow event breaks on its own (packets, ports)."""
    flow = event["flow"]
    where = f"flow {event.get('src_ip')}:{event.get('src_port', '')} -> " \
            f"{event.get('dest_ip')}:{event.get('dest_port', '')} {event.get('proto')}"
    problems = []
    if flow["pkts_toserver"] + flow["pkts_toclient"] <= 0:
        problems.append(f"{where}: no packets")
    elif flow["pkts_toserver"] < 1:
        problems.append(f"{where}: the first packet is not toserver (pkts_toserver 0)")
    has_ports = "src_port" in event and "dest_port" in event
    proto = PROTO_NUMBERS.get(event["proto"], None)
    if proto in PORT_PROTOS and not has_ports:
        problems.append(f"{where}: {event['proto']} flow without ports")
    if proto not in PORT_PROTOS and ("src_port" in event or "dest_port" in event):
        problems.append(f"{where}: {event['proto']} flow with ports")
    return problems


def eve_totals(events: list[dict]):
    """(key -> [packets, bytes], key -> number of flow events, problems)."""
    totals, counts, problems = {}, Counter(), []
    for event in events:
        if event.get("event_type") != "flow":
            continue
        problems += flow_event_problems(event)
        flow = event["flow"]
        key = eve_flow_key(event)
        sums = totals.setdefault(key, [0, 0])
        sums[0] += flow["pkts_toserver"] + flow["pkts_toclient"]
        sums[1] += flow["bytes_toserver"] + flow["bytes_toclient"]
        counts[key] += 1
    return totals, counts, problems


def compare_totals(expected: dict, got: dict, counts: Counter) -> list[str]:
    """One line per key whose totals differ (missing, extra, packets or bytes)."""
    lines = []
    for key in sorted(set(expected) | set(got), key=repr):
        want, have = expected.get(key), got.get(key)
        if want == have:
            continue
        if have is None:
            lines.append(f"missing {key}: reference {want[0]} pkts {want[1]} bytes")
        elif want is None:
            lines.append(f"extra   {key}: wirescore {have[0]} pkts {have[1]} bytes "
                         f"in {counts[key]} flow(s)")
        else:
            lines.append(f"differs {key}: reference {want[0]} pkts {want[1]} bytes, "
                         f"wirescore {have[0]} pkts {have[1]} bytes in {counts[key]} flow(s)")
    return lines


def exit_problems(ref, proc) -> list[str]:
    """Exit status and stderr against the reference's reading of the capture."""
    if ref.read_error is None:
        if proc.returncode != 0:
            return [f"exit status {proc.returncode} on a readable capture:\n{proc.stderr[-2000:]}"]
        return []
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("wirescore: error:")]
    if proc.returncode != 1 or len(errors) != 1 or "Traceback" in proc.stderr:
        return [f"libpcap stops early ({ref.read_error}): expected exit 1 and one "
                f"'wirescore: error:' line, got exit {proc.returncode}:\n{proc.stderr[-2000:]}"]
    return []


def stats_problems(ref, events: list[dict]) -> list[str]:
    """The last stats event counts every frame read, and the errors among them.

    Errors and non-IP frames both make no flow, so this is what tells them apart."""
    stats = [e for e in events if e.get("event_type") == "stats"]
    if not stats:
        return ["no stats event (one is written at the end of every run)"]
    decoder = stats[-1]["stats"].get("decoder", {})
    got = (decoder.get("pkts"), decoder.get("invalid"))
    if got != (ref.frames, ref.error_count):
        reasons = ", ".join(f"{n} x {r}" for r, n in sorted(ref.errors.items())) or "none"
        return [f"stats decoder pkts/invalid {got[0]}/{got[1]}, reference "
                f"{ref.frames}/{ref.error_count} (errors: {reasons})"]
    return []


def accounting_report(path: Path, events: list[dict], proc) -> list[str]:
    """Everything wrong with wirescore's flows for one capture ([] when right)."""
    ref = reference_flows(path)
    problems = exit_problems(ref, proc) + stats_problems(ref, events)
    totals, counts, event_problems = eve_totals(events)
    problems += event_problems
    problems += compare_totals(ref.flows, totals, counts)
    if len(problems) > MAX_LINES:
        problems = problems[:MAX_LINES] + [f"... and {len(problems) - MAX_LINES} more"]
    return problems


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", capture_params())
def test_flow_totals_match_reference(path, prefetch):
    """Per canonical 5-tuple, packets and bytes summed over flow events = the reference."""
    reason = uncovered_reason(path)
    if reason:
        pytest.skip(reason)
    events, proc = prefetch.get(path)
    problems = accounting_report(path, events, proc)
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


def test_shared_sweep_present():
    """The shared sweep is not silently empty: skip with the reason, or hundreds of files."""
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA} (set WIRESCORE_SHARED)")
    files = shared_capture_files()
    covered = [p for p in files if uncovered_reason(p) is None]
    assert len(files) > 500 and len(covered) > 500, (len(files), len(covered))


def test_reference_sees_flows():
    """The reference itself finds flows in the shipped captures (guards an empty compare)."""
    captures = fixture_captures()
    if not captures:
        pytest.skip(f"no fixture captures in {FIXTURES} yet")
    assert all(reference_flows(p).flows for p in captures)
