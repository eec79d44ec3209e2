"""Live capture: the highest replay rate wirescore takes without a drop, beside tcpdump.

The wire is the veth pair of tests/test_live.py (ws-b in one network namespace sends,
ws-a in another captures; nothing leaves the pair). The traffic is the short-mode bench
capture (benchmarks/.cache/bench-200000.pcap, real traffic, ~480 bytes a packet),
preloaded by tcpreplay (-K) and looped to last TRIAL_S seconds at the rate tried.

One trial at rate R: tcpdump (-B 65536, the same 64 MiB ring as wirescore's default
buffer) and wirescore (`wirescore run -i ws-a`, default settings) capture ws-a
at the same time; tcpreplay --pps=R sends; after GRACE_S wirescore gets SIGTERM and
tcpdump SIGINT. wirescore keeps up at R when its kernel dropped nothing, the kernel
handed it every packet sent, and it had processed them all within GRACE_S of the end
of the replay (so a backlog still sitting in the ring counts as not keeping up; a
trial of TRIAL_S seconds can still overstate the sustained rate by at most
GRACE_S / TRIAL_S). tcpdump, in the same trial, shows whether the wire itself carried
every packet (if tcpdump misses packets without a kernel drop, the veth lost them and
the trial says nothing about wirescore).

Search: first the generator's own ceiling (tcpreplay --topspeed, tcpdump alone), then
for each configuration a bisection of the requested rate between 0 and that ceiling,
BISECT_STEPS trials at most (fewer in --bench-short), within a time budget. Reported:
the highest rate kept up (achieved packets/s and Mbit/s as tcpreplay measured it) and
whether a repeat of it kept up too, the lowest rate that failed and how much it lost
(on a loaded machine a lower rate can fail: flagged "noisy"), and tcpdump's drops in
the same trials
- in benchmark extra_info, in the saved JSON, and in a table at the end of the run.
When a configuration keeps up at the generator's ceiling, its true ceiling is higher
than this machine can generate: the table says ">=".

Configurations: 1 worker (in-process, as `wirescore run -i` without --workers) and 2
workers (PACKET_FANOUT), each with detection on (the default) and with --no-detect.

Skipped when not root or without ip netns / tcpreplay / tcpdump. Results depend on the
machine's load (tcpreplay, wirescore and tcpdump share its CPUs); the load average is
recorded with them.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

import workloads

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TRIAL_S = 4.0              # seconds of replay per trial (full mode)
TRIAL_S_SHORT = 2.5
GRACE_S = 0.5              # after the replay: time allowed to empty the ring
BISECT_STEPS = 6           # trials per configuration at most (full mode)
BISECT_STEPS_SHORT = 3
BUDGET_S = 420.0           # wall time for every search together (full mode)
BUDGET_S_SHORT = 150.0
MIN_RATE = 5000            # below this a search stops: "< 5000 pkt/s"


def _load_test_live():
    """tests/test_live.py's Wire (imported by path: benchmarks/ has its own conftest)."""
    spec = importlib.util.spec_from_file_location("wirescore_tests_live",
                                                  REPO / "tests" / "test_live.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TL = _load_test_live()
WHY_NOT = TL.WHY_NOT or (None if shutil.which("tcpdump") else
                         "the live rate benchmark needs tcpdump (apt-get install tcpdump)")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


@dataclass
class Trial:
    requested_pps: int | None          # None: --topspeed
    sent: int = 0
    pps: float = 0.0                   # achieved, as tcpreplay measured it
    mbps: float = 0.0
    tcpdump_received: int = -1
    tcpdump_dropped: int = -1
    received: int = -1                 # wirescore: capture.kernel_packets (all workers)
    dropped: int = -1                  # capture.kernel_drops
    processed: int = -1                # decoder.pkts
    seconds: float = 0.0

    @property
    def wire_ok(self) -> bool:
        return self.tcpdump_dropped == 0 and self.tcpdump_received == self.sent

    @property
    def kept_up(self) -> bool:
        return (self.dropped == 0 and self.received == self.sent
                and self.processed == self.sent)

    @property
    def drop_share(self) -> float:
        return 1 - self.processed / self.sent if self.sent and self.processed >= 0 else 1.0


@dataclass
class Search:
    name: str
    workers: int
    detect: bool
    best: Trial | None = None           # highest rate kept up
    failed: Trial | None = None         # lowest rate that was not
    trials: list = field(default_factory=list)
    at_ceiling: bool = False            # no trial failed, up to the generator's ceiling
    confirmed: bool | None = None       # the best rate kept up again when repeated
    stopped_by_budget: bool = False

    @property
    def noisy(self) -> bool:
        return self.best is not None and self.failed is not None and \
            self.failed.pps < self.best.pps


class Rig:
    """The wire, the replay capture, and how to run one trial."""

    def __init__(self, wire, pcap: Path, trial_s: float, workdir: Path):
        self.wire, self.pcap, self.trial_s, self.workdir = wire, pcap, trial_s, workdir
        self.n = 0

    def _start_tcpdump(self):
        err = self.workdir / f"tcpdump{self.n}.err"
        fh = open(err, "w")
        proc = subprocess.Popen(self.wire.ns_cmd("tcpdump", "-i", TL.CAP_IF, "-n", "-s",
                                                 "65535", "-B", "65536", "-w", "/dev/null"),
                                stdout=subprocess.DEVNULL, stderr=fh)
        _wait_for(lambda: "listening on" in err.read_text(), proc, err)
        return proc, fh, err

    def _start_wirescore(self, workers: int, detect: bool, logdir: Path):
        err = self.workdir / f"wirescore{self.n}.err"
        fh = open(err, "w")
        cmd = self.wire.ns_cmd(sys.executable, "-m", "wirescore", "run", "-i", TL.CAP_IF,
                               "-l", str(logdir), "--workers", str(workers),
                               "--detect" if detect else "--no-detect", "--stats-interval", "0")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fh, cwd=REPO)
        _wait_for(lambda: " capturing (" in err.read_text(), proc, err)
        return proc, fh, err

    def trial(self, pps: int | None, workers: int = 0, detect: bool = True) -> Trial:
        """workers 0: tcpdump alone (the generator's ceiling)."""
        self.n += 1
        t0 = time.monotonic()
        trial = Trial(requested_pps=pps)
        logdir = self.workdir / f"logs{self.n}"
        tcpdump, td_fh, td_err = self._start_tcpdump()
        ws = None
        try:
            if workers:
                ws = self._start_wirescore(workers, detect, logdir)
            if pps is None:
                rate, limit = ["--topspeed"], 1_000_000
            else:
                rate, limit = [f"--pps={pps}"], max(workloads.SHORT_PACKETS,
                                                    int(pps * self.trial_s))
            proc = subprocess.run(["ip", "netns", "exec", self.wire.gen_ns, "tcpreplay", "-q",
                                   "-K", "-i", TL.GEN_IF, *rate, "--loop=0",
                                   f"--limit={limit}", str(self.pcap)],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise AssertionError(f"tcpreplay: {proc.stderr.strip()[-1000:]}")
            sent = TL.parse_tcpreplay(proc.stdout)
            trial.sent, trial.pps, trial.mbps = sent["sent"], sent.get("pps", 0.0), \
                sent.get("mbps", 0.0)
            time.sleep(GRACE_S)
        finally:
            if ws is not None:
                ws_proc, ws_fh, ws_err = ws
                ws_proc.send_signal(signal.SIGTERM)
                rc = ws_proc.wait(120)
                ws_fh.close()
                assert rc == 0, ws_err.read_text()[-3000:]
            tcpdump.send_signal(signal.SIGINT)
            tcpdump.wait(60)
            td_fh.close()
        text = td_err.read_text()
        trial.tcpdump_received = _count(text, "packets received by filter")
        trial.tcpdump_dropped = _count(text, "packets dropped by kernel")
        if workers:
            final = [json.loads(line) for line in (logdir / "eve.json").read_text()
                     .splitlines() if '"event_type":"stats"' in line][-1]["stats"]
            trial.received = final["capture"]["kernel_packets"]
            trial.dropped = final["capture"]["kernel_drops"]
            trial.processed = final["decoder"]["pkts"]
            shutil.rmtree(logdir, ignore_errors=True)
        trial.seconds = time.monotonic() - t0
        return trial

    def search(self, s: Search, ceiling: Trial, steps: int, deadline: float) -> Search:
        """Bisect the requested rate in (0, ceiling]; the ceiling is tried first, and the
        best rate found is tried once more (confirmed or not). best / failed are the
        highest achieved rate kept up and the lowest achieved rate not kept up over
        every trial: on a loaded machine they can cross (s.noisy)."""
        hi_req, lo_req = int(ceiling.pps), 0
        first = self._add(s, self.trial(hi_req, s.workers, s.detect))
        if not first:
            for _ in range(steps - 1):
                if time.monotonic() > deadline:
                    s.stopped_by_budget = True
                    break
                mid = (lo_req + hi_req) // 2
                if mid < MIN_RATE:
                    break
                if self._add(s, self.trial(mid, s.workers, s.detect)):
                    lo_req = mid
                else:
                    hi_req = mid
        if s.best is not None and time.monotonic() <= deadline:
            again = self.trial(s.best.requested_pps, s.workers, s.detect)
            s.confirmed = self._add(s, again)
        s.at_ceiling = s.failed is None
        return s

    @staticmethod
    def _add(s: Search, t: Trial) -> bool:
        s.trials.append(t)
        ok = t.kept_up and t.wire_ok
        if ok and (s.best is None or t.pps > s.best.pps):
            s.best = t
        if not ok and (s.failed is None or t.pps < s.failed.pps):
            s.failed = t
        return ok


def _count(text: str, what: str) -> int:
    for line in text.splitlines():
        if line.strip().endswith(what):
            return int(line.split()[0])
    return -1


def _wait_for(ready, proc, err: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {err.read_text()[-3000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"not ready after {timeout} s: {err.read_text()[-3000:]}")


class _Report:
    """Prints the results table at the end of the pytest run."""

    def __init__(self):
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if self.lines:
            terminalreporter.write_sep("=", "wirescore live capture: highest zero-drop rate")
            for line in self.lines:
                terminalreporter.write_line(line)


def _fmt(t: Trial | None) -> str:
    return "-" if t is None else f"{t.pps:>9,.0f} pkt/s {t.mbps:>7,.0f} Mbit/s"


@pytest.fixture(scope="module")
def rig(tmp_path_factory, pytestconfig):
    if WHY_NOT:
        pytest.skip(WHY_NOT)
    try:
        pcap = workloads.build_bench_pcap(workloads.bench_pcap_path(workloads.SHORT_PACKETS),
                                          workloads.SHORT_PACKETS)
    except workloads.WorkloadError as exc:
        pytest.fail(f"bench capture: {exc}", pytrace=False)
    wire = TL.Wire(f"b{os.getpid()}")
    try:
        wire.up()
    except RuntimeError as exc:
        wire.down()
        pytest.skip(f"cannot build the veth pair in network namespaces: {exc}")
    short = pytestconfig.getoption("bench_short", default=False)
    workdir = Path(tempfile.mkdtemp(prefix="wirescore-live-rate-"))
    try:
        yield Rig(wire, pcap, TRIAL_S_SHORT if short else TRIAL_S, workdir), short
    finally:
        wire.down()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.benchmark(group="live")
def test_live_zero_drop_rate(benchmark, rig, request):
    rig, short = rig
    steps = BISECT_STEPS_SHORT if short else BISECT_STEPS
    budget = BUDGET_S_SHORT if short else BUDGET_S
    configs = [Search("wirescore, 1 worker, detection on", 1, True),
               Search("wirescore, 2 workers, detection on", 2, True),
               Search("wirescore, 1 worker, --no-detect", 1, False),
               Search("wirescore, 2 workers, --no-detect", 2, False)]
    if short:
        configs = configs[:2]
    result: dict = {}

    def run_all():
        deadline = time.monotonic() + budget
        ceiling = rig.trial(None)
        assert ceiling.wire_ok, f"tcpdump alone lost packets at the generator's ceiling: {ceiling}"
        result["ceiling"] = ceiling
        result["searches"] = [rig.search(s, ceiling, steps, deadline) for s in configs]

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    ceiling, searches = result["ceiling"], result["searches"]
    load = os.getloadavg()
    info = {"capture": rig.pcap.name, "trial_s": rig.trial_s, "grace_s": GRACE_S,
            "load_avg_1m": round(load[0], 2), "cpus": os.cpu_count(),
            "generator_ceiling_pps": round(ceiling.pps), "generator_ceiling_mbps":
            round(ceiling.mbps, 1), "configs": {}}
    report = _Report()
    report.lines.append(f"{rig.pcap.name} looped, {rig.trial_s:g} s a trial, {GRACE_S:g} s "
                        f"grace; {os.cpu_count()} CPUs, load {load[0]:.1f} "
                        "(tcpreplay, wirescore and tcpdump share them)")
    report.lines.append(f"  {'generator ceiling (tcpreplay --topspeed)':<40} {_fmt(ceiling)}"
                        f"   tcpdump alone: {ceiling.tcpdump_dropped} dropped")
    for s in searches:
        td_drops = sum(max(0, t.tcpdump_dropped) for t in s.trials)
        entry = {"best": asdict(s.best) if s.best else None,
                 "failed": asdict(s.failed) if s.failed else None,
                 "at_generator_ceiling": s.at_ceiling, "trials": len(s.trials),
                 "confirmed": s.confirmed, "noisy": s.noisy,
                 "all_trials": [asdict(t) for t in s.trials],
                 "tcpdump_drops_in_these_trials": td_drops,
                 "stopped_by_budget": s.stopped_by_budget}
        info["configs"][s.name] = entry
        best = (">=" if s.at_ceiling else "  ") + _fmt(s.best)
        note = (f"lowest failing {s.failed.pps:,.0f} pkt/s ({100 * s.failed.drop_share:.1f} % "
                f"not processed)" if s.failed else "no drop up to the generator's ceiling")
        flags = [{True: "repeat kept up", False: "repeat did NOT keep up"}.get(s.confirmed, ""),
                 "noisy: a lower rate failed" if s.noisy else "",
                 "budget ran out" if s.stopped_by_budget else ""]
        report.lines.append(f"  {s.name:<40} {best}   {note}; tcpdump beside it: "
                            f"{td_drops} dropped in {len(s.trials)} trials"
                            + "".join(f"; {f}" for f in flags if f))
    benchmark.extra_info.update(info)
    request.config.pluginmanager.register(report, "wirescore-live-rate-report")
    for s in searches:
        assert s.trials, f"{s.name}: no trial ran"
        if s.best is not None:   # a trial where tcpdump lost packets says nothing of us
            assert s.best.wire_ok, f"{s.name}: the wire lost packets in the trial kept: {s.best}"
