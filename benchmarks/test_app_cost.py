"""The cost of each application-layer protocol: `wirescore run --no-detect` on a capture
rich in the protocol, with its parsers on (as shipped), with their budgets 0 (the probe
still names the protocol, the parser is given no byte: ext/app/stream.pxd), and with the
whole application layer off (--no-app). Ratios and differences within one run, no
wall-time assertion.

Captures: dns, http and tls on the throughput capture (bench_pcap, the 2M-packet one by
default: --bench-pcap); smb, dcerpc, krb5, ldap and ssh on the shared captures whose
golden record has events of the protocol (tests/golden/shared.json, the public mix
left out), each shifted by a day per copy and appended (editcap -t, mergecap -a) until
the capture holds APP_COST_PACKETS packets, cached in benchmarks/.cache.

Each round runs the three modes back to back (their order rotated round to round, so a
load change hits each mode alike); the medians over APP_COST_ROUNDS rounds give:
  parser_ns_per_pkt   (median on - median budget 0) / packets of the protocol's flows
  parser_ns_per_flow  the same over the protocol's flows (app_layer.flow.<stem>)
  parser_share        (on - budget 0) / on: the parsers' share of the whole run
  app_share           (on - no app) / on: the whole application layer's (probes,
                      parsers, events, EVE lines, app columns)
Packets and flows of the protocol are counted from an untimed run's flow events
(app_proto). Results go to benchmarks/.results/app-cost.json and the terminal.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest

import workloads
from test_throughput import wirescore_main  # noqa: F401 (the session fixture)

ROUNDS = int(os.environ.get("APP_COST_ROUNDS", "5"))
PACKETS = int(os.environ.get("APP_COST_PACKETS", "200000"))
#: protocol -> (Suricata's app_proto, the budget stems that turn its parsers off,
#: where its capture comes from: "bench" or "shared")
PROTOCOLS = {
    "dns": ("dns", ("dns_tcp", "dns_udp"), "bench"),
    "http": ("http", ("http",), "bench"),
    "tls": ("tls", ("tls",), "bench"),
    "smb": ("smb", ("smb",), "shared"),
    "dcerpc": ("dcerpc", ("dcerpc_tcp",), "shared"),
    "krb5": ("krb5", ("krb5_tcp", "krb5_udp"), "shared"),
    "ldap": ("ldap", ("ldap_tcp", "ldap_udp"), "shared"),
    "ssh": ("ssh", ("ssh",), "shared"),
}
SHIFT_S = 86400                       # a day between copies: every flow has timed out
RESULTS: dict[str, dict] = {}


def shared_sources(event_kind: str) -> list[Path]:
    """The shared captures with events of the kind in the golden record (not the mix)."""
    from shared_data import find_shared

    golden = json.loads((workloads.REPO / "tests" / "golden" / "shared.json").read_text())
    root = find_shared() / "data"
    return [root / name for name, rec in sorted(golden.items())
            if (rec.get("events") or {}).get(event_kind) and name.startswith("pcaps/")]


def _packets(path: Path) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", "-T", str(path)], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    return int(out.split("\t")[-1])


def protocol_capture(proto: str) -> Path:
    """The protocol's shared captures merged (pcapng: their link types differ), then
    doubled (a copy shifted past the last packet by SHIFT_S s per doubling) until it
    holds PACKETS packets; cached by protocol and size."""
    out = workloads.CACHE_DIR / f"app-{proto}-{PACKETS}.pcapng"
    if out.is_file():
        return out
    sources = shared_sources(proto)
    if not sources:
        pytest.skip(f"no shared capture with {proto} events")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_suffix(".tmp.pcapng")
    subprocess.run(["mergecap", "-F", "pcapng", "-a", "-w", str(work),
                    *map(str, sources)], check=True)
    shift, copy = SHIFT_S, out.with_suffix(".copy.pcapng")
    while _packets(work) < PACKETS:
        subprocess.run(["editcap", "-t", str(shift), str(work), str(copy)], check=True)
        both = out.with_suffix(".both.pcapng")
        subprocess.run(["mergecap", "-F", "pcapng", "-a", "-w", str(both), str(work),
                        str(copy)], check=True)
        both.replace(work)
        shift *= 2
    copy.unlink(missing_ok=True)
    work.replace(out)
    return out


def run_once(main, pcap: Path, logdir: Path, flags: list[str]) -> float:
    """Seconds of one in-process `wirescore run --no-detect FLAGS` (a fresh log dir)."""
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    t0 = time.perf_counter()
    rc = main(["run", "-r", str(pcap), "-l", str(logdir), "--no-detect", *flags],
              standalone_mode=False)
    took = time.perf_counter() - t0
    assert rc in (None, 0), f"wirescore run returned {rc!r}"
    return took


def protocol_volume(eve: Path, app_proto: str) -> tuple[int, int]:
    """(packets, flows) of the flow events whose app_proto is the protocol's."""
    pkts = flows = 0
    with eve.open("rb") as f:
        for line in f:
            if b'"event_type":"flow"' not in line or app_proto.encode() not in line:
                continue
            ev = json.loads(line)
            if ev.get("app_proto") == app_proto:
                flows += 1
                pkts += ev["flow"]["pkts_toserver"] + ev["flow"]["pkts_toclient"]
    return pkts, flows


@pytest.fixture(scope="module", autouse=True)
def write_results():
    yield
    if RESULTS:
        out = workloads.BENCH_DIR / ".results" / "app-cost.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(RESULTS, indent=1))
        print("\nprotocol  capture                   pkts(proto)  flows(proto)  on_s  "
              "budget0_s  noapp_s  ns/pkt  ns/flow  parser%  app%")
        for proto, r in RESULTS.items():
            print(f"{proto:9s} {r['capture'][:25]:25s} {r['proto_packets']:11d} "
                  f"{r['proto_flows']:12d} {r['on_s']:6.3f} {r['budget0_s']:9.3f} "
                  f"{r['noapp_s']:8.3f} {r['parser_ns_per_pkt']:7.0f} "
                  f"{r['parser_ns_per_flow']:8.0f} {100 * r['parser_share']:7.1f} "
                  f"{100 * r['app_share']:5.1f}")


@pytest.mark.benchmark(group="app-cost")
@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_protocol_cost(benchmark, proto, wirescore_main, bench_pcap, tmp_path):
    """One round: the protocol's capture with its parsers on, with their budgets 0, and
    with --no-app, back to back (order rotated); the medians and their differences in
    extra_info and RESULTS."""
    app_proto, stems, source = PROTOCOLS[proto]
    pcap = bench_pcap if source == "bench" else protocol_capture(proto)
    off = [f for s in stems for f in (f"--app-budget-{s.replace('_', '-')}", "0")]
    modes = {"on": [], "budget0": off, "noapp": ["--no-app"]}
    times: dict[str, list[float]] = {m: [] for m in modes}
    order = list(modes)

    def one_round():
        for m in order:
            times[m].append(run_once(wirescore_main, pcap, tmp_path / m, modes[m]))
        order.append(order.pop(0))

    run_once(wirescore_main, pcap, tmp_path / "warm", [])          # page cache, imports
    pkts, flows = protocol_volume(tmp_path / "warm" / "eve.json", app_proto)
    shutil.rmtree(tmp_path / "warm", ignore_errors=True)
    assert flows > 0, f"no {proto} flow in {pcap.name}"
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    med = {m: statistics.median(t) for m, t in times.items()}
    parser = med["on"] - med["budget0"]
    r = {"capture": pcap.name, "rounds": ROUNDS, "proto_packets": pkts,
         "proto_flows": flows, "on_s": med["on"], "budget0_s": med["budget0"],
         "noapp_s": med["noapp"],
         "paired_parser_s": statistics.median(a - b for a, b in zip(times["on"],
                                                                    times["budget0"])),
         "parser_ns_per_pkt": parser * 1e9 / pkts,
         "parser_ns_per_flow": parser * 1e9 / flows,
         "parser_share": parser / med["on"],
         "app_share": (med["on"] - med["noapp"]) / med["on"],
         "loadavg": os.getloadavg()[0], "times": times}
    RESULTS[proto] = r
    benchmark.extra_info.update({k: v for k, v in r.items() if k != "times"})
    for m in modes:
        shutil.rmtree(tmp_path / m, ignore_errors=True)
