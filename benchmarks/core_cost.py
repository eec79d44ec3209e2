"""What the compiled core costs with the options detection turns on, one option at a time.

    python benchmarks/core_cost.py [--pcap PATH] [--rounds 2]

Reads the benchmark capture once (prefetch off), then feeds its batches to a fresh
FlowMeter and drains every buffer, with no scoring: once with the options of a
`--no-detect` run (meter_options(cfg, None)), once with those of a run of the shipped
profiles (meter_options(cfg, Detector(...))), and once per option of the latter set back
to its --no-detect value. Prints the best of --rounds runs of each, in seconds, and the
bare capture loop's packets/s for scale: the core alone bounds the detection-on/bare
ratio of test_throughput.py from above (the scoring only adds to it).

Default capture: the 2M-packet benchmark capture (WIRESCORE_BENCH_PCAP, else the cache
that test_throughput.py builds).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from workloads import bench_pcap_path, build_bench_pcap

from wirescore.alerts import load_profiles
from wirescore.capture import open_source
from wirescore.config import Config
from wirescore.detect import Detector
from wirescore.meter import meter_options

PACKETS = 2_000_000
# options whose value differs with detection; the ones that go together move together
GROUPS = {"context": ("context", "scan_pending"), "windows": ("window_keys",
                                                              "window_seconds",
                                                              "window_early"),
          "scan_pending": ("scan_pending",), "update_interval": ("update_interval",),
          "window_early": ("window_early",), "ring_bytes": ("ring_bytes",),
          "arp_hosts": ("arp_hosts",)}


def feed_all(batches: list, linktype: int, options: dict) -> float:
    """Seconds to feed every batch to a fresh FlowMeter and drain every buffer."""
    from wirescore._core.flowtable import FlowMeter

    meter = FlowMeter(linktype, **options)
    start = time.perf_counter()
    for data, meta, _ in batches:
        i = 0
        while i < len(meta):
            i = meter.feed(data, meta, i)
            meter.drain_windows()
            meter.drain_window_updates()
            meter.drain_arp()
            meter.drain_app()
            meter.drain_attempts()
            meter.drain_updates()
            meter.drain()
    while meter.shutdown():
        meter.drain()
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pcap", default=os.environ.get("WIRESCORE_BENCH_PCAP"))
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args(argv)
    pcap = a.pcap or str(build_bench_pcap(bench_pcap_path(PACKETS), PACKETS))
    cfg = Config.load()
    detector = Detector(load_profiles(cfg), app_rows=cfg["detect.firstseen_rows"])
    base, full = meter_options(cfg, None), meter_options(cfg, detector)
    source = open_source(pcap)
    linktype = source.linktype
    start = time.perf_counter()
    batches = list(source.batches(prefetch=0))
    packets = sum(len(m) for _, m, _ in batches)
    print(f"{pcap}: {packets:,} packets read in {time.perf_counter() - start:.3f} s")

    def best(options: dict) -> float:
        return min(feed_all(batches, linktype, options) for _ in range(a.rounds))

    print(f"{'--no-detect options':32s} {best(base):7.3f} s")
    print(f"{'detection options':32s} {best(full):7.3f} s")
    for name, keys in GROUPS.items():
        if all(base[k] == full[k] for k in keys):
            continue
        options = dict(full)
        for k in keys:
            options[k] = base[k]
        print(f"{'  without ' + name:32s} {best(options):7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
