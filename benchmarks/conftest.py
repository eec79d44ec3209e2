"""Options, cached workloads and the end-of-run summary of the benchmark suite.

Run with ``pytest benchmarks/`` (the default ``pytest`` run collects tests/ only).
See benchmarks/README.md for what is measured and how baselines are compared.

Options (explicit options win over the environment, which only sets their defaults):
  --bench-short      small capture (200k packets, 100k flows) and few rounds, for CI;
                     default from WIRESCORE_BENCH_SHORT=1
  --bench-pcap PATH  capture for the throughput benchmarks (built there by
                     make-bench-pcap.sh when missing); default from WIRESCORE_BENCH_PCAP,
                     else benchmarks/.cache/bench-<packets>.pcap
  --bench-flows N    concurrent flows of the memory benchmark (1,000,000; short 100,000)
  --bench-check-goals  fail when a goal is missed (ratio >= 0.65, RSS(1M flows) <= 400 MB);
                     by default goals are only reported

Results are saved, with --benchmark-save NAME / --benchmark-autosave, under
benchmarks/.results (unless --benchmark-storage says otherwise); the saved JSON gets a
top-level "wirescore" object (mode, packets, packets/s, ratio, peak RSS) that
benchmarks/compare.py reads.
"""
from __future__ import annotations

import os

# as wirescore/__init__.py does, before anything imports numpy: OpenBLAS's idle
# thread pool otherwise competes with the capture reader thread (wirescore does no BLAS)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import workloads
from goals import GOAL_FLOWS, GOAL_HST_SPEEDUP, GOAL_RATIO, GOAL_RSS_FLOWS_MB

RESULTS_DIR = workloads.BENCH_DIR / ".results"
DEFAULT_STORAGE = "file://./.benchmarks"       # pytest-benchmark's own default


@dataclass(frozen=True)
class Mode:
    """Sizes and repetitions of one run of the suite."""

    name: str                 # "full" or "short"
    packets: int              # packets of the bench capture when it is built here
    flows: int                # concurrent flows of the memory benchmark
    bare_rounds: int          # timed rounds of the bare pcapy loop
    full_rounds: int          # timed rounds of the full run
    warmup_rounds: int = 1    # untimed rounds first (page cache, lazy imports)


FULL = Mode("full", workloads.FULL_PACKETS, workloads.FULL_FLOWS, bare_rounds=10, full_rounds=5)
SHORT = Mode("short", workloads.SHORT_PACKETS, workloads.SHORT_FLOWS, bare_rounds=20,
             full_rounds=5)


@dataclass
class Summary:
    """Numbers gathered during the session, for the table and the saved JSON."""

    mode: str = ""
    capture: str = ""
    packets: int = 0
    rates: dict = field(default_factory=dict)       # name -> packets/s (median round)
    medians: dict = field(default_factory=dict)     # name -> seconds
    rounds: dict = field(default_factory=dict)      # name -> timed rounds
    rss_mb: dict = field(default_factory=dict)      # name -> peak RSS, MB
    child_s: dict = field(default_factory=dict)     # name -> (CPU s, wall s) of that child
    flows: int = 0
    benchmarks: dict = field(default_factory=dict)  # name -> benchmark fixture (extra_info)
    hst: dict = field(default_factory=dict)         # river/native/native_dict -> samples/s
    scoring: dict = field(default_factory=dict)     # flows/windows/samples_per_s/seconds

    @property
    def hst_ratio(self) -> float | None:
        river, native = self.hst.get("river"), self.hst.get("native")
        return native / river if river and native else None

    @property
    def ratio(self) -> float | None:
        bare, full = self.rates.get("bare"), self.rates.get("full")
        return full / bare if bare and full else None

    @property
    def detect_ratio(self) -> float | None:
        bare, detect = self.rates.get("bare"), self.rates.get("detect")
        return detect / bare if bare and detect else None

    def as_dict(self) -> dict:
        ratio = self.ratio
        rss_flows = self.rss_mb.get("flows")
        return {
            "mode": self.mode, "capture": self.capture, "packets": self.packets,
            "statistic": "median",
            "bare_pps": self.rates.get("bare"), "full_pps": self.rates.get("full"),
            "reader_pps": self.rates.get("reader"),
            "ratio_full_over_bare": ratio,
            "detect_pps": self.rates.get("detect"), "ratio_detect_over_bare": self.detect_ratio,
            "scoring": self.scoring or None,
            "rss_bare_mb": self.rss_mb.get("bare"), "rss_full_mb": self.rss_mb.get("full"),
            "flows": self.flows or None, "rss_flows_mb": rss_flows,
            "hst_river_sps": self.hst.get("river"), "hst_native_sps": self.hst.get("native"),
            "hst_native_dict_sps": self.hst.get("native_dict"),
            "hst_speedup": self.hst_ratio,
            "goals": {
                "ratio_min": GOAL_RATIO,
                "ratio_ok": None if ratio is None else ratio >= GOAL_RATIO,
                "rss_flows_max_mb": GOAL_RSS_FLOWS_MB,
                # the RSS goal is stated for 1M flows; a short run's flows say nothing of it
                "rss_flows_ok": (None if rss_flows is None or self.flows < GOAL_FLOWS
                                 else rss_flows <= GOAL_RSS_FLOWS_MB),
                "hst_speedup_min": GOAL_HST_SPEEDUP,
                "hst_speedup_ok": (None if self.hst_ratio is None
                                   else self.hst_ratio >= GOAL_HST_SPEEDUP),
            },
        }


def pytest_addoption(parser):
    g = parser.getgroup("wirescore benchmarks")
    env_short = os.environ.get("WIRESCORE_BENCH_SHORT", "").strip().lower()
    g.addoption("--bench-short", action="store_true",
                default=env_short in ("1", "true", "yes", "on"),
                help="small capture and few rounds (CI); default from WIRESCORE_BENCH_SHORT")
    g.addoption("--bench-pcap", default=os.environ.get("WIRESCORE_BENCH_PCAP") or None,
                help="capture for the throughput benchmarks (built there when missing); "
                     "default from WIRESCORE_BENCH_PCAP, else benchmarks/.cache/")
    g.addoption("--bench-flows", type=int, default=None,
                help="concurrent flows of the memory benchmark (default 1000000, short 100000)")
    g.addoption("--bench-check-goals", action="store_true", default=False,
                help=f"fail when ratio < {GOAL_RATIO} or peak RSS with 1M flows > "
                     f"{GOAL_RSS_FLOWS_MB} MB (default: report only)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Runs before pytest-benchmark's (trylast) configure reads the storage option:
    # keep saved runs beside the suite, wherever pytest is started from.
    if getattr(config.option, "benchmark_storage", None) == DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{RESULTS_DIR}"
    config._wirescore_summary = Summary()


@pytest.fixture(scope="session")
def bench_mode(pytestconfig) -> Mode:
    mode = SHORT if pytestconfig.getoption("bench_short") else FULL
    flows = pytestconfig.getoption("bench_flows")
    if flows:
        mode = Mode(mode.name, mode.packets, flows, mode.bare_rounds, mode.full_rounds,
                    mode.warmup_rounds)
    return mode


@pytest.fixture(scope="session")
def summary(pytestconfig, bench_mode) -> Summary:
    """Session results; at teardown copies the ratio into both throughput benchmarks."""
    s = pytestconfig._wirescore_summary
    s.mode = bench_mode.name
    yield s
    ratio = s.ratio
    if ratio is not None:
        for name in ("bare", "full"):
            s.benchmarks[name].extra_info["ratio_full_over_bare"] = round(ratio, 4)


@pytest.fixture(scope="session")
def bench_pcap(pytestconfig, bench_mode, summary) -> Path:
    """The throughput capture: given by path, or built and cached; packets counted once."""
    given = pytestconfig.getoption("bench_pcap")
    path = Path(given).expanduser().resolve() if given else workloads.bench_pcap_path(
        bench_mode.packets)
    try:
        if not path.is_file() or not given:
            workloads.build_bench_pcap(path, bench_mode.packets)
    except workloads.WorkloadError as exc:
        pytest.fail(f"bench capture {path}: {exc}", pytrace=False)
    summary.capture = path.name
    summary.packets = workloads.count_packets(path)
    return path


@pytest.fixture(scope="session")
def flows_pcap(bench_mode, summary) -> Path:
    """Synthetic capture of bench_mode.flows distinct one-packet UDP flows (cached)."""
    summary.flows = bench_mode.flows
    return workloads.write_udp_flows_pcap(workloads.flows_pcap_path(bench_mode.flows),
                                          bench_mode.flows)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Add the suite's own summary (ratio, RSS) to every saved or --benchmark-json file."""
    s = getattr(config, "_wirescore_summary", None)
    if s is not None and s.mode:
        output_json["wirescore"] = s.as_dict()


def _fmt_pps(v):
    return "-" if v is None else f"{v:,.0f} pkt/s"


def _fmt_mb(v):
    return "-" if v is None else f"{v:,.1f} MB"


def _fmt_sps(v):
    return "-" if v is None else f"{v:,.0f} samples/s"


def _verdict(ok):
    return "" if ok is None else ("  ok" if ok else "  MISSED")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    s = getattr(config, "_wirescore_summary", None)
    if s is None or not s.mode or not (s.rates or s.rss_mb or s.hst):
        return
    d = s.as_dict()
    tr = terminalreporter
    tr.write_sep("=", "wirescore throughput and memory")
    rounds = "/".join(str(s.rounds[k]) for k in ("full", "bare") if k in s.rounds)
    if s.capture:
        tr.write_line(f"mode {s.mode}: {s.capture}, {s.packets:,} packets; "
                      f"median of {rounds or '-'} timed rounds (full/bare)")
    else:
        tr.write_line(f"mode {s.mode}")
    rows = [
        ("bare pcapy-ng loop (count only)", _fmt_pps(d["bare_pps"]), ""),
        ("bare wirescore reader loop (count only)", _fmt_pps(d["reader_pps"]), ""),
        ("full run --no-detect (in-process)", _fmt_pps(d["full_pps"]), ""),
        ("ratio full/bare", "-" if d["ratio_full_over_bare"] is None
         else f"{d['ratio_full_over_bare']:.3f}",
         f"goal >= {GOAL_RATIO}{_verdict(d['goals']['ratio_ok'])}"),
        ("full run, detection on (in-process)", _fmt_pps(d["detect_pps"]), ""),
        ("ratio detection-on/bare", "-" if d["ratio_detect_over_bare"] is None
         else f"{d['ratio_detect_over_bare']:.3f}", ""),
        ("scoring, shipped profiles", _fmt_sps((s.scoring or {}).get("samples_per_s")),
         "" if not s.scoring else f"{s.scoring['flows']:,} flows + {s.scoring['windows']:,} "
         f"windows, score+learn+alert decisions"),
        ("peak RSS, bare loop (subprocess)", _fmt_mb(d["rss_bare_mb"]), ""),
        ("peak RSS, full run (subprocess)", _fmt_mb(d["rss_full_mb"]), ""),
        (f"peak RSS, {s.flows:,} concurrent flows", _fmt_mb(d["rss_flows_mb"]),
         f"goal <= {GOAL_RSS_FLOWS_MB} MB at 1,000,000 flows"
         f"{_verdict(d['goals']['rss_flows_ok'])}"),
    ]
    for i, key in ((6, "bare"), (7, "full"), (8, "flows")):
        if key in s.child_s:
            cpu, wall = s.child_s[key]
            note = "; ".join(x for x in (rows[i][2], f"{cpu:.2f} s CPU, {wall:.2f} s wall") if x)
            rows[i] = rows[i][:2] + (note,)
    if not (s.rates or s.rss_mb):        # only the HST benchmarks ran
        rows = []
    if s.hst:
        rows += [
            ("HST score+learn, River", _fmt_sps(s.hst.get("river")), ""),
            ("HST score+learn, native batched", _fmt_sps(s.hst.get("native")), ""),
            ("HST score+learn, native per dict", _fmt_sps(s.hst.get("native_dict")), ""),
            ("HST speed-up native/River", "-" if d["hst_speedup"] is None
             else f"{d['hst_speedup']:.0f}x",
             f"goal >= {GOAL_HST_SPEEDUP}x{_verdict(d['goals']['hst_speedup_ok'])}"),
        ]
    for label, value, note in rows:
        tr.write_line(f"  {label:<38} {value:>18}   {note}".rstrip())
