"""Packets per second of the full run path, of a bare pcapy-ng read and of a bare read by
wirescore's own reader, on one capture.

Both benchmarks read the same file in the same session, one after the other, each after
an untimed warm-up round (so both find it in the page cache). Their ratio, full/bare,
says how much of libpcap's reading speed the whole meter keeps; it is compared across
commits (benchmarks/compare.py) because, unlike seconds, it travels between machines.
The goal is a ratio >= 0.65.

Rates are packets of the capture divided by the median round time (s); each round of the
full run writes to a fresh log directory made (and the previous one removed) outside the
timed call.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import workloads
from goals import GOAL_RATIO

FLOW_EVENT = re.compile(rb'"event_type"\s*:\s*"flow"')


@pytest.fixture(scope="session")
def wirescore_main():
    """wirescore.cli.main, imported once outside any timed call (skip when not installed)."""
    try:
        from wirescore.cli import main
    except ImportError as exc:
        pytest.skip(f"wirescore is not importable ({exc}); run `pip install -e .` first")
    return main


def record_rate(benchmark, summary, name: str, rounds: int) -> float | None:
    """Store packets/s of the median round in extra_info and the session summary."""
    benchmark.extra_info.update(mode=summary.mode, capture=summary.capture,
                                packets=summary.packets, statistic="median")
    if not benchmark.stats:          # --benchmark-disable: ran once, nothing timed
        return None
    median = benchmark.stats.stats.median           # seconds per pass over the capture
    pps = summary.packets / median
    benchmark.extra_info.update(median_s=round(median, 6), packets_per_s=round(pps, 1))
    summary.rates[name] = pps
    summary.medians[name] = median
    summary.rounds[name] = rounds
    summary.benchmarks[name] = benchmark
    return pps


@pytest.mark.benchmark(group="throughput")
def test_bare_pcapy_loop(benchmark, bench_pcap, bench_mode, summary):
    """Seconds to read every packet with next_batch(4096) and only count them."""
    rounds = bench_mode.bare_rounds
    n = benchmark.pedantic(workloads.bare_loop, args=(str(bench_pcap),), rounds=rounds,
                           warmup_rounds=bench_mode.warmup_rounds, iterations=1)
    assert n == summary.packets
    record_rate(benchmark, summary, "bare", rounds)


@pytest.mark.benchmark(group="throughput")
def test_bare_reader_loop(benchmark, bench_pcap, bench_mode, summary):
    """Seconds to read every packet with wirescore's own reader (capture.FileSource, in
    batches of 4096, its reader thread on) and only count them: beside the bare pcapy-ng
    loop, what reading costs the full run."""
    rounds = bench_mode.bare_rounds
    n = benchmark.pedantic(workloads.reader_loop, args=(str(bench_pcap),), rounds=rounds,
                           warmup_rounds=bench_mode.warmup_rounds, iterations=1)
    assert n == summary.packets
    record_rate(benchmark, summary, "reader", rounds)


def timed_runs(benchmark, wirescore_main, bench_pcap, bench_mode, tmp_path, *flags) -> Path:
    """Time `wirescore run -r CAPTURE -l DIR FLAGS` in-process, a fresh DIR per round;
    returns the last round's eve.json (its directory is removed by the caller)."""
    logdirs: list[Path] = []

    def setup():
        for d in logdirs:
            shutil.rmtree(d, ignore_errors=True)
        d = tmp_path / f"logs{len(logdirs)}"
        d.mkdir()
        logdirs.append(d)
        return (str(bench_pcap), str(d)), {}

    def run(pcap: str, logdir: str):
        rc = wirescore_main(["run", "-r", pcap, "-l", logdir, *flags], standalone_mode=False)
        assert rc in (None, 0), f"wirescore run returned {rc!r}"

    benchmark.pedantic(run, setup=setup, rounds=bench_mode.full_rounds,
                       warmup_rounds=bench_mode.warmup_rounds, iterations=1)
    for d in logdirs[:-1]:
        shutil.rmtree(d, ignore_errors=True)
    eve = logdirs[-1] / "eve.json"
    assert eve.is_file(), f"no eve.json in {logdirs[-1]}"
    return eve


@pytest.mark.benchmark(group="throughput")
def test_full_run(benchmark, bench_pcap, bench_mode, summary, wirescore_main, tmp_path,
                  pytestconfig):
    """Seconds for `wirescore run -r CAPTURE -l DIR --no-detect`, in-process.

    Includes click's argument parsing, opening the capture and eve.json, decoding,
    the flow table and writing every flow event; excludes the import of wirescore.
    """
    eve = timed_runs(benchmark, wirescore_main, bench_pcap, bench_mode, tmp_path,
                     "--no-detect")
    flows_out = len(FLOW_EVENT.findall(eve.read_bytes()))
    benchmark.extra_info["flow_events"] = flows_out        # of the last round
    shutil.rmtree(eve.parent, ignore_errors=True)
    assert flows_out > 0, "the full run wrote no flow event"
    record_rate(benchmark, summary, "full", bench_mode.full_rounds)
    ratio = summary.ratio
    if ratio is not None:
        benchmark.extra_info["ratio_full_over_bare"] = round(ratio, 4)
        if pytestconfig.getoption("bench_check_goals"):
            assert ratio >= GOAL_RATIO, f"full/bare = {ratio:.3f} < goal {GOAL_RATIO}"


@pytest.mark.benchmark(group="throughput")
def test_full_run_detection_on(benchmark, bench_pcap, bench_mode, summary, wirescore_main,
                               tmp_path):
    """Seconds for `wirescore run -r CAPTURE -l DIR` with detection on (the shipped
    profiles: tail and scan flow profiles over the endpoint context, source and
    destination windows), in-process: the
    --no-detect path plus the endpoint context, traffic windows, the packet ring,
    scoring, alerts and their snippets. Reported as packets/s and over the bare loop."""
    eve = timed_runs(benchmark, wirescore_main, bench_pcap, bench_mode, tmp_path)
    text = eve.read_bytes()
    benchmark.extra_info["flow_events"] = len(FLOW_EVENT.findall(text))
    benchmark.extra_info["alert_events"] = text.count(b'"event_type":"alert"')
    shutil.rmtree(eve.parent, ignore_errors=True)
    assert benchmark.extra_info["flow_events"] > 0, "the run wrote no flow event"
    record_rate(benchmark, summary, "detect", bench_mode.full_rounds)
    if summary.detect_ratio is not None:
        benchmark.extra_info["ratio_detect_over_bare"] = round(summary.detect_ratio, 4)


@pytest.mark.benchmark(group="scoring")
def test_scoring_rate(benchmark, bench_pcap, bench_mode, summary):
    """Samples/s of the detection stage alone: the flow records and window records the
    core makes of the capture (collected once, untimed) through a fresh Detector with
    the shipped profiles, in the engine's batches of 8,192 flows: transform, scale,
    score, learn, thresholds, allowlist, suppression and explanations."""
    from wirescore.detect import Detector
    from wirescore.rules import default_rules_dir, load_paths

    profiles = load_paths([default_rules_dir()])
    flows, windows = workloads.core_records(str(bench_pcap), Detector(profiles))
    batch = 8192

    def score():
        d = Detector(profiles)
        for i in range(0, len(flows), batch):
            d.process(flows[i:i + batch])
        for i in range(0, len(windows), batch):
            d.process_windows(windows[i:i + batch])

    rounds = 3
    benchmark.pedantic(score, rounds=rounds, warmup_rounds=0, iterations=1)
    samples = len(flows) + len(windows)
    if benchmark.stats:
        median = benchmark.stats.stats.median
        summary.scoring = {"flows": len(flows), "windows": len(windows),
                           "seconds": round(median, 4),
                           "samples_per_s": round(samples / median, 1)}
        benchmark.extra_info.update(summary.scoring)
    assert len(flows) > 0 and len(windows) > 0, "the capture gave no flow or no window"
