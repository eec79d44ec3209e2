"""Time to alert: packet time from an attack's first packet to its first alert.

    python benchmarks/time_to_alert.py [--rules PATH] [--seeds 1,2,3] [--json]
                                       [--keep DIR] [--save-baseline]

Attacks measured (each one an "instance"):
1. every shared labeled capture (../shared/data/pcaps/labeled/LABELS.csv) of a scan,
   sweep, flood (DoS/DDoS) or brute force (password guessing and spraying), chosen by
   label text (category()); each is played after the mix's benign training period and
   followed by the mix's benign background after training (benchmarks/replay.py), so that
   flows still open age out as on a live link. Left out, and listed: ARP-only captures
   (wirescore scores IP), captures that are not Ethernet, captures of other attacks.
   Hosts: LABELS.csv `hosts`, "attacker A -> victim B" (the first address is the
   attacker, one after "->"/"<->" the victim; "many sources -> victim B": victim only;
   a subnet is no host). The first attack packet is the first IPv4 packet from the
   attacker (with no attacker: the first to the victim).
2. every attack instance of the public evaluation mix (mix-public.instances.csv,
   role=attack) and, with --seeds, of the mix rebuilt with those seeds (eval_mix.build_mix).
   Hosts: every endpoint address of the instance's attack flows (mix-public.labels.csv,
   remapped addresses as written there); first attack packet: their earliest first_ts.

An alert belongs to an instance when its src_ip or dest_ip is one of the instance's
hosts and its timestamp lies in [first attack packet - 1 s, last attack packet + 1 s]
(1 s: a window alert is stamped with its window, which may start before the attack).
Two clocks, both in packet-time seconds:
  (a) `timestamp`: the alert line's timestamp (today a flow alert carries its flow's last
      packet, though it is decided only when the flow ends);
  (b) `emitted`: the packet time at which the engine handed the alert out (the honest
      one). Runs go through wirescore.engine.Engine in this process, with the capture's
      batches cut as a live capture cuts them (LiveCut): a batch is handed over when it
      holds capture.batch_size packets (16384) or capture.timeout_ms (100 ms) of packet
      time after its first packet, whichever comes first. An alert decided in a batch is
      stamped with that batch's handover time (the packet time of its last packet when
      it filled up, else its first packet's + timeout_ms), so (b) includes the wait for
      the batch, as on a live link (processing time aside). Alerts handed out at the end
      of the capture (flows ended at shutdown) get the last packet's time and are marked
      "at end".
First alert for a clock: the earliest of the instance's alerts on that clock; delta =
first alert - first attack packet. The profile named is the first one by (b).
Summary: median and max of each delta over the detected scan, sweep, flood and
brute-force instances (the issue's goal: median <= 1 s, max <= 5 s) and over all
detected instances; and how the flow profiles' alerts of every run were decided (at a
flow's end, at an update, at an attempt) with how long those at a flow's end waited
after the flow's last packet (the issue's goal: no flow-profile alert waits for its
flow's timeout). --save-baseline writes benchmarks/baseline/time_to_alert.json; a
normal run prints that baseline's delta (b) beside today's.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import eval_mix
from replay import read_frames, write_after_training
from shared_data import shared_or_exit, shared_path

LABELED = shared_path("data", "pcaps", "labeled")
BASELINE = Path(__file__).resolve().parent / "baseline" / "time_to_alert.json"
SLACK = 1.0                      # seconds an alert may precede the attack (its window)
GOAL = ("scan", "sweep", "flood", "bruteforce")
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d/])")


@dataclass
class Case:
    """One attack instance: where it is, its hosts, its first and last packet (s)."""

    source: str                  # "shared", "mix" or "mix-seed-N"
    instance: str
    attack: str
    capture: str
    hosts: list
    start: float
    end: float
    result: dict = field(default_factory=dict)


def category(text: str) -> str:
    """The goal category a label or attack-type name falls in, else "other"."""
    t = text.lower()
    for cat, words in (("bruteforce", ("brute", "spray")), ("flood", ("ddos", "flood")),
                       ("sweep", ("sweep",)), ("scan", ("scan",))):
        if any(w in t for w in words):
            return cat
    return "other"


def label_hosts(text: str) -> tuple[list, list]:
    """(attackers, victims) IPv4 addresses of a LABELS.csv `hosts` cell."""
    parts = re.split(r"<?->", text, maxsplit=1)
    if len(parts) == 1:
        return IPV4.findall(text)[:1], []
    return IPV4.findall(parts[0])[:1], IPV4.findall(parts[1])[:1]


def first_packet(frames: list, attackers: list, victims: list):
    """(first, last) time (s) of the IPv4 Ethernet frames from an attacker (none given:
    to a victim); (None, None) when there is none."""
    import dpkt

    want = {socket.inet_aton(a) for a in attackers}
    to = {socket.inet_aton(v) for v in victims}
    times = []
    for ts, buf in frames:
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP) and (ip.src in want if want else ip.dst in to):
            times.append(ts)
    return (min(times), max(times)) if times else (None, None)


def mix_tail(mix: Path, frames: list, train_end: float) -> list:
    """The mix's benign frames (its packets.csv: label 0) at or after train_end, of the
    mix's frames (read_frames)."""
    with open(mix.with_suffix(".packets.csv"), newline="") as fh:
        benign = [row["label"] == "0" for row in csv.DictReader(fh)]
    return [f for f, ok in zip(frames, benign) if ok and f[0] >= train_end]


def shared_case(row: dict, workdir: Path, link: int, background: list, tail: list,
                train_end: float):
    """(Case, stream path) of one LABELS.csv row, its stream (replay.write_after_training)
    written into workdir; or the reason it is left out (a string)."""
    name, label = row["file"], row["label"]
    cat = category(label)
    if "arp" in label.lower():
        return "ARP only (wirescore scores IP)"
    if cat == "other":
        return "not a scan, sweep, flood or brute force"
    link_a, frames = read_frames(LABELED / name)
    if link_a != link:
        return f"link type {link_a}, not Ethernet"
    attackers, victims = label_hosts(row["hosts"])
    start, end = first_packet(frames, attackers, victims)
    if start is None:
        return "no IPv4 packet from its attacker or to its victim"
    stream = workdir / (Path(name).stem + ".pcap")
    shift = write_after_training(stream, link, background, frames, train_end, tail)
    return (Case("shared", Path(name).stem, cat, name, attackers + victims,
                 round(start + shift, 6), round(end + shift, 6)), stream)


def shared_cases(workdir: Path, mix: Path, train_end: float, only: str = "") -> tuple:
    """([(Case, stream path)], [(capture, why left out)]) of the shared labeled captures
    (only: those whose file name contains it); writes each stream into workdir."""
    link, frames = read_frames(mix)
    background = [f for f in frames if f[0] < train_end]
    tail = mix_tail(mix, frames, train_end)
    cases, left = [], []
    with open(LABELED / "LABELS.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if only in r["file"]]
    for row in rows:
        got = shared_case(row, workdir, link, background, tail, train_end)
        if isinstance(got, str):
            left.append((row["file"], got))
        else:
            cases.append(got)
    return cases, left


def mix_cases(eval_dir: Path, source: str) -> list:
    """The attack instances of the mix in eval_dir (instances.csv role=attack)."""
    hosts, span = defaultdict(set), {}
    with open(eval_dir / "mix-public.labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            inst = row["instance"]
            for ep in (row["endpoint_a"], row["endpoint_b"]):
                hosts[inst].add(ep.rsplit(":", 1)[0].strip("[]"))
            first, last = float(row["first_ts"]), float(row["last_ts"])
            a, b = span.get(inst, (first, last))
            span[inst] = (min(a, first), max(b, last))
    out = []
    with open(eval_dir / "mix-public.instances.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            inst = row["instance"]
            if row["role"] == "attack" and inst in span:
                out.append(Case(source, inst, row["attack"], Path(row["source"]).name,
                                sorted(hosts[inst]), *span[inst]))
    return out


class LiveCut:
    """Wraps a FileSource: its batches re-cut as a live capture cuts them (module doc,
    clock (b)), with the empty batches a quiet link gives: while no packet comes, one
    every timeout_ms of packet time, after which the engine ages flows and closes
    windows on expiry_clock() (the handover time), as on a live link. handover: the
    packet time (s) at which the latest batch yielded was handed over."""

    def __init__(self, source, batch_size: int, timeout_ms: int):
        self.source, self.size, self.timeout = source, batch_size, timeout_ms / 1000.0
        self.handover: float | None = None

    def __getattr__(self, name):
        return getattr(self.source, name)

    def expiry_clock(self) -> float | None:
        """A live source's clock after the latest batch: its handover time."""
        return self.handover

    def batches(self, *args, **kwargs):
        for data, meta, linktype in self.source.batches(*args, **kwargs):
            yield from self._cut(data, meta, linktype)

    def _quiet(self, data, meta, linktype, until: float):
        """The empty batches of the quiet time from the last handover to `until` (the
        next packet's time): one every timeout."""
        if self.handover is None:
            return
        tick = self.handover + self.timeout
        while tick < until:
            self.handover = tick
            yield data, meta[:0], linktype
            tick += self.timeout

    def _cut(self, data, meta, linktype):
        """Sub-batches of one read batch. Their meta rows keep their offsets into data, so
        each carries the whole span (the run's byte count is then not meaningful)."""
        n = len(meta)
        if n == 0:
            yield data, meta, linktype
            return
        ts = meta[:, 0].astype(np.float64) + meta[:, 1] / 1e6
        a = 0
        while a < n:
            yield from self._quiet(data, meta, linktype, float(ts[a]))
            deadline = ts[a] + self.timeout
            end = min(a + self.size, n)
            late = np.flatnonzero(ts[a + 1:end] >= deadline)
            b = a + 1 + int(late[0]) if len(late) else end
            # filled up: handed over at its last packet; else when the timeout ran out
            self.handover = float(ts[b - 1]) if b - a == self.size else float(deadline)
            yield data, meta[a:b], linktype
            a = b


def run_alerts(pcap: Path, logdir: Path, rules: str | None) -> list:
    """Run the profiles over pcap in this process (eve.json into logdir): every alert
    event in the order handed out, each as (event, emitted: the handover time (s) of
    the batch it was decided in (LiveCut), at_end: handed out after the last batch)."""
    from wirescore import sources as sources_mod      # Engine.run opens its input there
    from wirescore.config import Config
    from wirescore.engine import Engine
    from wirescore.rules import default_rules_dir, load_paths

    profiles = load_paths(rules.split(",") if rules else [default_rules_dir()])
    pending: list = []
    done: list = []
    clock = [None]                           # the latest packet time seen
    cfg = Config.load(overrides={"outputs.snippets.enabled": False})
    cut: list = []
    real_open = sources_mod.open_source

    def live_source(*args, **kwargs):
        # read in large batches, so that LiveCut alone decides where batches end
        kwargs["batch_size"] = 1_000_000
        cut.append(LiveCut(real_open(*args, **kwargs),
                           cfg["capture.batch_size"], cfg["capture.timeout_ms"]))
        return cut[-1]

    def progress(p) -> None:
        clock[0] = p.packet_clock
        handover = cut[-1].handover if cut and cut[-1].handover is not None \
            else p.packet_clock
        done.extend((ev, handover, False) for ev in pending)
        pending.clear()

    engine = Engine(cfg, logdir, profiles=profiles, on_alert=pending.append,
                    on_progress=progress)
    sources_mod.open_source = live_source
    try:
        engine.run(str(pcap))
    finally:
        sources_mod.open_source = real_open
    done.extend((ev, clock[0], True) for ev in pending)
    return done


def measure(case: Case, alerts: list) -> dict:
    """The case's first alert on each clock (module docstring) and the deltas (s)."""
    hosts = set(case.hosts)
    mine = []
    for ev, emitted, at_end in alerts:
        ts = eval_mix.eve_time(ev["timestamp"])
        if ({ev.get("src_ip"), ev.get("dest_ip")} & hosts
                and case.start - SLACK <= ts <= case.end + SLACK):
            mine.append((ts, emitted, at_end, ev))
    if not mine:
        return {"detected": False}
    by_ts = min(mine, key=lambda m: m[0])
    ts, emitted, at_end, ev = min(mine, key=lambda m: (m[1], m[0]))
    return {"detected": True, "alert_timestamp": by_ts[3]["timestamp"],
            "alert_ts": by_ts[0], "alert_emitted": emitted, "at_end": at_end,
            "delta_ts": round(by_ts[0] - case.start, 6),
            "delta_emitted": round(emitted - case.start, 6),
            "signature_id": ev["alert"]["signature_id"], "signature": ev["alert"]["signature"]}


def run_cases(cases: list, pcap: Path, logdir: Path, rules: str | None) -> list:
    """Measure every case found in one capture (one run: case.result); returns the
    run's alerts (run_alerts)."""
    alerts = run_alerts(pcap, logdir, rules)
    for case in cases:
        case.result = measure(case, alerts)
    return alerts


def stats(cases: list, key: str) -> dict:
    """Median and max of delta `key` over the detected cases, and how many."""
    v = [c.result[key] for c in cases if c.result.get("detected")]
    return {"detected": len(v), "of": len(cases),
            "median": round(statistics.median(v), 3) if v else None,
            "max": round(max(v), 3) if v else None}


def summarize(cases: list) -> dict:
    goal = [c for c in cases if category(c.attack) in GOAL]
    return {name: {k: stats(group, "delta_" + k) for k in ("emitted", "ts")}
            for name, group in (("scan_sweep_flood_bruteforce", goal), ("all", cases))}


def flow_profile_alerts(runs: list) -> dict:
    """How the alerts of flow profiles were decided, over the alerts of every run
    (run_alerts): at a flow's end (unit "flow"), at an update of an open flow, or at a
    confirmed attempt; and for those at a flow's end, how long after the flow's last
    packet (the alert's timestamp) they were handed out (s, median and max; at the end of
    a capture not counted): the wait for the flow's report (its timeout); and each of
    those alerts (its key, wait and the feature that made its score), to look at."""
    count = {"flow": 0, "update": 0, "attempt": 0}
    waits, late = [], []
    for alerts in runs:
        for ev, emitted, at_end in alerts:
            meta = ev["alert"]["metadata"]
            unit = meta.get("wirescore_unit", [""])[0]
            if unit not in count:
                continue
            count[unit] += 1
            if unit == "flow" and not at_end:
                wait = emitted - eval_mix.eve_time(ev["timestamp"])
                waits.append(wait)
                late.append({"signature_id": ev["alert"]["signature_id"],
                             "src_ip": ev.get("src_ip"), "dest_ip": ev.get("dest_ip"),
                             "dest_port": ev.get("dest_port"), "proto": ev.get("proto"),
                             "timestamp": ev["timestamp"], "wait": round(wait, 3),
                             "feature": (meta.get("wirescore_features") or [""])[0]})
    return {"at_flow_end": count["flow"], "at_update": count["update"],
            "at_attempt": count["attempt"],
            "flow_end_wait": {"median": round(statistics.median(waits), 3) if waits else None,
                              "max": round(max(waits), 3) if waits else None},
            "flow_end_alerts": late}


def evaluate(rules: str | None, seeds: list, workdir: Path) -> dict:
    """Every case of the shared captures, the public mix and the seeded mixes."""
    eval_dir = eval_mix.EVAL
    train_end = json.loads((eval_dir / "mix-public.summary.json").read_text())["train_end_ts"]
    mix = eval_dir / "mix-public.pcap"
    shared, left = shared_cases(workdir, mix, train_end)
    runs = []
    for case, stream in shared:
        runs.append(run_cases([case], stream, workdir / (stream.stem + "-logs"), rules))
    cases = [case for case, _ in shared] + mix_cases(eval_dir, "mix")
    runs.append(run_cases(cases[len(shared):], mix, workdir / "mix-logs", rules))
    for seed in seeds:
        folder = workdir / f"mix-seed-{seed}"
        folder.mkdir(exist_ok=True)
        eval_mix.build_mix(eval_dir, seed, folder)
        more = mix_cases(folder, f"mix-seed-{seed}")
        runs.append(run_cases(more, folder / "mix-public.pcap", folder / "logs", rules))
        cases += more
    return {"batches": "cut as live (capture.batch_size, capture.timeout_ms)",
            "seeds": seeds, "left_out": left,
            "cases": [asdict(c) for c in cases], "summary": summarize(cases),
            "flow_profiles": flow_profile_alerts(runs)}


def _fmt(v, at_end=False) -> str:
    return "-" if v is None else f"{v:.3f}" + ("*" if at_end else "")


def print_table(result: dict, baseline: dict | None) -> None:
    base = {(c["source"], c["instance"]): c["result"] for c in (baseline or {}).get("cases", [])}
    by_type = defaultdict(list)
    for c in result["cases"]:
        by_type[c["attack"]].append(c)
    print(f"{'instance':<44} {'first packet':>17} {'alert (a)':>17} {'emitted (b)':>17} "
          f"{'delta a':>8} {'delta b':>9} {'base b':>9}  first profile")
    for attack in sorted(by_type):
        print(f"-- {attack}")
        for c in by_type[attack]:
            r, b = c["result"], base.get((c["source"], c["instance"]))
            name = f"{c['source']}:{c['instance']}"[:44]
            was = ("-" if b is None else _fmt(b.get("delta_emitted"), b.get("at_end"))
                   if b.get("detected") else "missed")
            if not r["detected"]:
                print(f"{name:<44} {c['start']:>17.6f} {'not detected':>17} {'':>17} "
                      f"{'':>8} {'':>9} {was:>9}  {c['capture']}")
                continue
            print(f"{name:<44} {c['start']:>17.6f} {r['alert_ts']:>17.6f} "
                  f"{r['alert_emitted']:>17.6f} {r['delta_ts']:>8.3f} "
                  f"{_fmt(r['delta_emitted'], r['at_end']):>9} {was:>9}  "
                  f"{r['signature_id']} {c['capture']}")
    print("* handed out at the end of the capture (flows ended at shutdown)")
    for name, s in result["summary"].items():
        same = (baseline or {}).get("seeds") == result["seeds"]   # else not comparable
        was = baseline["summary"].get(name) if baseline and same else None
        for k, label in (("emitted", "(b) emitted"), ("ts", "(a) timestamp")):
            x = s[k]
            line = (f"{name:<28} {label:<14} detected {x['detected']:>3} of {x['of']:>3}: "
                    f"median {_fmt(x['median'])} s, max {_fmt(x['max'])} s")
            if was:
                w = was[k]
                line += (f"   baseline: {w['detected']} of {w['of']}, median "
                         f"{_fmt(w['median'])} s, max {_fmt(w['max'])} s")
            print(line)
    f = result.get("flow_profiles")
    if f:
        w = f["flow_end_wait"]
        print(f"flow-profile alerts (every run, background too): {f['at_flow_end']} at a "
              f"flow's end (handed out {_fmt(w['median'])} s median, {_fmt(w['max'])} s max "
              f"after the flow's last packet), {f['at_update']} at an update of an open "
              f"flow, {f['at_attempt']} at a confirmed attempt")
        for a in f.get("flow_end_alerts", []):
            print(f"  at a flow's end: {a['signature_id']} {a['src_ip']} -> {a['dest_ip']}"
                  f" {a['proto']}/{a['dest_port']} stamped {a['timestamp']}, handed out "
                  f"{a['wait']:.1f} s later; top feature {a['feature']}")
    for name, why in result["left_out"]:
        print(f"left out: {name}: {why}")


def git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent)
    return proc.stdout.strip()


def seed_list(text: str) -> list:
    """--seeds "1,2,3" -> [1, 2, 3] (argparse says what is wrong in one line)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("give integers separated by commas") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", help="profiles to run (default: the shipped ones)")
    ap.add_argument("--seeds", type=seed_list, default=[],
                    help="also the mix rebuilt with these seeds (comma-separated; needs "
                         "../shared/tools)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="keep the streams and logs in this folder")
    ap.add_argument("--save-baseline", action="store_true",
                    help=f"write the result to {BASELINE.relative_to(BASELINE.parents[2])}")
    args = ap.parse_args(argv)
    shared_or_exit("time_to_alert")           # one line: where the shared folder was sought
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = evaluate(args.rules, args.seeds, workdir)
    if args.save_baseline:
        result.update(commit=git_commit(),
                      datetime=datetime.datetime.now(datetime.timezone.utc).isoformat())
        BASELINE.write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    print_table(result, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
