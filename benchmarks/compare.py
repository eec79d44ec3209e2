#!/usr/bin/env python3
"""Compare a saved benchmark run with the baseline; fail when full/bare regressed.

The gate is the ratio full-run packets/s over bare-pcapy-loop packets/s, measured in
the same session on the same file: it moves little between machines, unlike seconds.
The run fails (exit 1) when

    current ratio < baseline ratio * (1 - tolerance)        (tolerance 0.10 by default)

and, with --rss-tolerance T, when a peak RSS grew by more than the fraction T. Packets/s
and RSS of both runs are printed for information. Exit 2 when a run or the baseline is
missing or holds no ratio (so a suite that stopped measuring cannot pass silently).

A run is a JSON file written by pytest-benchmark (--benchmark-save / --benchmark-autosave
into benchmarks/.results/<machine>/NNNN_<name>.json, or --benchmark-json PATH); the suite's
conftest adds a "wirescore" object holding the mode, ratio and RSS. Baselines live in
benchmarks/baseline/<mode>.json, a copy of one saved run (--save-baseline writes it).

Examples:
    python benchmarks/compare.py                    # latest saved run vs its mode's baseline
    python benchmarks/compare.py --current run.json --mode short --tolerance 0.25
    python benchmarks/compare.py --save-baseline    # make the latest run the baseline
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from goals import GOAL_FLOWS, GOAL_RATIO, GOAL_RSS_FLOWS_MB, TOLERANCE  # noqa: E402

RESULTS_DIR = BENCH_DIR / ".results"
BASELINE_DIR = BENCH_DIR / "baseline"
MODES = ("full", "short")


class CompareError(Exception):
    """Missing or unusable input (exit status 2)."""


def load_run(path: Path) -> dict:
    """The run's summary: the "wirescore" object, completed from the benchmark stats."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: cannot read: {exc}") from None
    summary = dict(data.get("wirescore") or {})
    by_name = {b.get("name"): b for b in data.get("benchmarks", [])}
    bare, full = by_name.get("test_bare_pcapy_loop"), by_name.get("test_full_run")
    if summary.get("ratio_full_over_bare") is None and bare and full:
        # older or hand-made files: same capture, so the ratio is bare time / full time
        summary["ratio_full_over_bare"] = bare["stats"]["median"] / full["stats"]["median"]
    if not summary.get("mode"):
        summary["mode"] = (bare or full or {}).get("extra_info", {}).get("mode")
    summary["path"] = str(path)
    summary["datetime"] = data.get("datetime")
    summary["commit"] = (data.get("commit_info") or {}).get("id")
    summary["machine"] = (data.get("machine_info") or {}).get("node")
    return summary


def saved_runs(storage: Path) -> list[Path]:
    """Saved runs under storage, oldest first (by the NNNN counter, then mtime)."""
    files = [p for p in storage.glob("*/[0-9][0-9][0-9][0-9]_*.json") if p.is_file()]
    return sorted(files, key=lambda p: (p.name[:4], p.stat().st_mtime))


def latest_run(storage: Path, mode: str | None) -> Path:
    for path in reversed(saved_runs(storage)):
        if mode is None or load_run(path).get("mode") == mode:
            return path
    what = f"of mode {mode!r} " if mode else ""
    raise CompareError(f"no saved run {what}under {storage}; run `make bench` "
                       "(pytest benchmarks/ --benchmark-save=NAME) first")


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def _pct(cur, base):
    if cur is None or not base:
        return ""
    return f"{(cur / base - 1) * 100:+.1f} %"


def report(base: dict, cur: dict) -> None:
    print(f"baseline: {base['path']}  ({base.get('datetime')}, commit {base.get('commit')})")
    print(f"current:  {cur['path']}  ({cur.get('datetime')}, commit {cur.get('commit')})")
    print(f"mode {cur.get('mode')}: {cur.get('capture')}, {cur.get('packets') or 0:,} packets")
    rows = [
        ("bare loop, packets/s", "bare_pps", ",.0f"),
        ("full run, packets/s", "full_pps", ",.0f"),
        ("ratio full/bare", "ratio_full_over_bare", ".3f"),
        ("peak RSS bare loop, MB", "rss_bare_mb", ",.1f"),
        ("peak RSS full run, MB", "rss_full_mb", ",.1f"),
        ("peak RSS N flows, MB", "rss_flows_mb", ",.1f"),
        ("N flows", "flows", ",d"),
    ]
    print(f"  {'':<26} {'baseline':>14} {'current':>14} {'change':>9}")
    for label, key, spec in rows:
        b, c = base.get(key), cur.get(key)
        print(f"  {label:<26} {_fmt(b, spec):>14} {_fmt(c, spec):>14} {_pct(c, b):>9}")


def compare(base: dict, cur: dict, tolerance: float, rss_tolerance: float | None,
            goals: bool) -> list[str]:
    """Failures, one line each (empty when the current run passes)."""
    if base.get("mode") != cur.get("mode"):
        raise CompareError(f"modes differ: baseline {base.get('mode')!r}, "
                           f"current {cur.get('mode')!r}")
    b, c = base.get("ratio_full_over_bare"), cur.get("ratio_full_over_bare")
    if b is None:
        raise CompareError(f"{base['path']}: no full/bare ratio")
    if c is None:
        raise CompareError(f"{cur['path']}: no full/bare ratio (did test_full_run run?)")
    failures = []
    floor = b * (1 - tolerance)
    if c < floor:
        failures.append(f"ratio full/bare {c:.3f} < {floor:.3f} (baseline {b:.3f} "
                        f"- {tolerance:.0%}): throughput regressed")
    if rss_tolerance is not None:
        for key in ("rss_full_mb", "rss_flows_mb"):
            bv, cv = base.get(key), cur.get(key)
            if bv and cv and cv > bv * (1 + rss_tolerance):
                failures.append(f"{key} {cv:.1f} MB > {bv * (1 + rss_tolerance):.1f} MB "
                                f"(baseline {bv:.1f} + {rss_tolerance:.0%})")
    if goals:
        if c < GOAL_RATIO:
            failures.append(f"ratio full/bare {c:.3f} misses the goal >= {GOAL_RATIO}")
        rss, flows = cur.get("rss_flows_mb"), cur.get("flows") or 0
        if rss is not None and flows >= GOAL_FLOWS and rss > GOAL_RSS_FLOWS_MB:
            failures.append(f"peak RSS {rss:.1f} MB with {flows:,} flows misses the goal "
                            f"<= {GOAL_RSS_FLOWS_MB} MB")
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--storage", type=Path, default=RESULTS_DIR,
                    help="pytest-benchmark storage folder (default benchmarks/.results)")
    ap.add_argument("--current", type=Path,
                    help="run to check (default: the latest saved run of --mode)")
    ap.add_argument("--mode", choices=MODES,
                    help="full or short (default: the current run's mode)")
    ap.add_argument("--baseline", type=Path,
                    help="baseline run (default benchmarks/baseline/<mode>.json)")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE,
                    help=f"allowed drop of the ratio, a fraction (default {TOLERANCE})")
    ap.add_argument("--rss-tolerance", type=float, default=None,
                    help="also fail when a peak RSS grew by more than this fraction")
    ap.add_argument("--goals", action="store_true",
                    help=f"also fail when ratio < {GOAL_RATIO} or RSS(1M flows) > "
                         f"{GOAL_RSS_FLOWS_MB} MB")
    ap.add_argument("--save-baseline", action="store_true",
                    help="copy the current run to the baseline path instead of comparing")
    args = ap.parse_args(argv)
    if not 0 <= args.tolerance < 1:
        ap.error("--tolerance must be in [0, 1)")
    try:
        cur_path = args.current or latest_run(args.storage, args.mode)
        cur = load_run(cur_path)
        mode = args.mode or cur.get("mode")
        if mode not in MODES:
            raise CompareError(f"{cur_path}: unknown mode {mode!r}; pass --mode")
        base_path = args.baseline or BASELINE_DIR / f"{mode}.json"
        if args.save_baseline:
            if cur.get("ratio_full_over_bare") is None:
                raise CompareError(f"{cur_path}: no full/bare ratio, not a usable baseline")
            base_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cur_path, base_path)
            print(f"baseline {base_path} <- {cur_path} "
                  f"(ratio {cur['ratio_full_over_bare']:.3f})")
            return 0
        if not base_path.is_file():
            raise CompareError(f"no baseline at {base_path}; make one with "
                               f"`python benchmarks/compare.py --save-baseline --mode {mode}`")
        base = load_run(base_path)
        report(base, cur)
        failures = compare(base, cur, args.tolerance, args.rss_tolerance, args.goals)
    except CompareError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    for line in failures:
        print(f"FAIL: {line}")
    if not failures:
        print(f"OK: ratio {cur['ratio_full_over_bare']:.3f} within {args.tolerance:.0%} of "
              f"the baseline's {base['ratio_full_over_bare']:.3f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
