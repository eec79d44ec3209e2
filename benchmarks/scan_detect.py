"""Do the shipped profiles catch scanners, and stay quiet on benign traffic?

    python benchmarks/scan_detect.py [--rules PATH] [--json] [--keep DIR]

Scans (../shared/data/pcaps/labeled/scans/, scanner address from labeled/LABELS.csv):
an anomaly detector needs to have seen normal traffic first, so each scan capture is
played after the benign training period of the public evaluation mix (the first 480 s
of ../shared/data/eval/mix-public.pcap: the mix's benign background, no attack), moved
in time to start 1 s after it. The stream is written with dpkt, run through
`wirescore run` with the profiles, and reported: window alerts whose src_ip is the
scanner, flow alerts from the scanner, and alerts on anything else (false alerts: in
these streams only the scan is an attack). ARP-only captures (no IP flows) and non-
Ethernet ones are listed as skipped.

Benign traffic: the mix's background comes from the benign captures under
../shared/data/pcaps/peer-groundtruth/ (mix-public.background.csv); its false-alert rate
after warm-up is the alerts on background flows after the training period, per 1,000
background flows and per hour of traffic (benchmarks/eval_mix.py's evaluate_mix).

Window profiles on benign traffic (what the issue asks: quiet after warm-up): the
window alerts on the mix's benign background after its training period, and on every
benign capture under ../shared/data/pcaps/peer-groundtruth/ run on its own, each per
1,000 windows (source- or destination-seconds with traffic, as the core makes them) and
per hour of traffic. Alerts of a destination-keyed profile (dest_ip) that name a scan's
target are counted apart ("target"): the target does receive the scan's packets.

Unsupervised and untuned: nothing here feeds back into the profiles.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import eval_mix
from replay import read_frames, write_after_training
from shared_data import shared_or_exit, shared_path

SHARED = shared_path("data")
SCANS = SHARED / "pcaps" / "labeled"
MIX = SHARED / "eval" / "mix-public.pcap"
DLT_EN10MB = 1


def scan_cases() -> list[tuple[str, str]]:
    """[(file under labeled/, scanner IPv4)] for every scan capture in LABELS.csv."""
    out = []
    with open(SCANS / "LABELS.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["file"].startswith("scans/"):
                m = re.search(r"(\d+\.\d+\.\d+\.\d+)", row["hosts"])
                arp = "arp" in row["label"].lower()     # ARP scans/spoofing: not IP
                out.append((row["file"], m.group(1) if m and not arp else ""))
    return out


def _ip_packets_from(frames: list, address: str) -> int:
    """IPv4 packets (Ethernet frames) whose source is address."""
    import socket

    import dpkt

    want = socket.inet_aton(address)
    n = 0
    for _, buf in frames:
        ip = dpkt.ethernet.Ethernet(buf).data
        n += isinstance(ip, dpkt.ip.IP) and ip.src == want
    return n


def _targets_of(frames: list, scanner: str) -> set:
    """Addresses the scanner sent IPv4 packets to."""
    import socket

    import dpkt

    out = set()
    for _, buf in frames:
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP) and socket.inet_ntoa(ip.src) == scanner:
            out.add(socket.inet_ntoa(ip.dst))
    return out


def window_run(pcap: Path, rules: str | None):
    """Run the enabled profiles over one capture in this process: (window alerts, the
    window records the core handed to the window profiles, seconds with traffic, flow
    alerts, flows scored). Counting wraps the Detector the engine builds."""
    import tempfile as _tempfile

    import wirescore.detect as detect
    from wirescore.config import Config
    from wirescore.engine import Engine
    from wirescore.rules import default_rules_dir, load_paths

    profiles = load_paths(rules.split(",") if rules else [default_rules_dir()])
    windows: list = []
    flows = [0]

    class Counting(detect.Detector):
        def process(self, batch):
            flows[0] += len(batch)
            return super().process(batch)

        def process_windows(self, batch):
            if len(batch):
                windows.append(batch[["kind", "start_us", "end_us", "addr", "ip_version"]].copy())
            return super().process_windows(batch)

    alerts: list[dict] = []
    flow_alerts: list[dict] = []
    real = detect.Detector
    detect.Detector = Counting
    try:
        with _tempfile.TemporaryDirectory() as tmp:
            cfg = Config.load(overrides={"outputs.snippets.enabled": False})
            Engine(cfg, tmp, profiles=profiles,
                   on_alert=lambda ev: (flow_alerts if "flow" in ev else alerts).append(ev)
                   ).run(str(pcap))
    finally:
        detect.Detector = real
    import numpy as np

    w = np.concatenate(windows) if windows else np.empty(0)
    # traffic time: the windows with any traffic (long gaps inside a capture not counted)
    seconds = float(len(np.unique(w["start_us"])) * (w["end_us"][0] - w["start_us"][0]) / 1e6
                    ) if len(w) else 0.0
    return alerts, w, seconds, flow_alerts, flows[0]


def benign_windows(rules: str | None, train_end: float) -> dict:
    """False window alerts on benign traffic: the mix's background after its training
    period (windows of attack endpoints left out), and every benign capture under
    peer-groundtruth/ run on its own (from its first packet: no warm-up is excused)."""
    import ipaddress

    import numpy as np

    from wirescore._core.flowtable import WINDOW_KINDS

    attackers = set(eval_mix.addresses_of_attacks(MIX.parent / "mix-public.labels.csv"))

    def address(rec) -> str:
        v = int(rec["ip_version"])
        return str(ipaddress.ip_address(bytes(rec["addr"][:4 if v == 4 else 16]))) if v else ""

    alerts, w, _, _, _ = window_run(MIX, rules)
    after = w[w["start_us"] >= train_end * 1e6]
    background = [r for r in after if address(r) not in attackers]
    false_mix = [a for a in alerts if eval_mix.eve_time(a["alert"]["metadata"][
        "wirescore_window"][0].split()[1]) >= train_end and not eval_mix.window_attack(
        eval_mix.addresses_of_attacks(MIX.parent / "mix-public.labels.csv"), a)]
    summary = json.loads((MIX.parent / "mix-public.summary.json").read_text())
    hours = (summary["last_ts"] - train_end) / 3600
    mix = {"windows": len(background),
           "windows_by_key": dict(Counter(WINDOW_KINDS[int(r["kind"])] for r in background)),
           "false_alerts": len(false_mix),
           "false_alerts_by_signature": dict(Counter(a["alert"]["signature_id"]
                                                     for a in false_mix)),
           "per_1000_windows": round(1000 * len(false_mix) / max(len(background), 1), 3),
           "per_hour": round(len(false_mix) / hours, 1)}
    peer_root = SHARED / "pcaps" / "peer-groundtruth"
    files = sorted(p for p in peer_root.rglob("*")
                   if p.is_file() and p.suffix in (".pcap", ".pcapng", ".cap"))
    n_windows, seconds, alerted, runs, n_flows, flow_alerted = 0, 0.0, [], 0, 0, []
    for f in files:
        try:
            a, w, span, fa, nf = window_run(f, rules)
        except Exception:          # link types wirescore refuses (802.11, ...): skipped
            continue
        runs += 1
        n_windows += len(w)
        n_flows += nf
        seconds += span
        alerted += [(str(f.relative_to(peer_root)), ev.get("src_ip") or ev.get("dest_ip"),
                     ev["alert"]["signature_id"]) for ev in a]
        flow_alerted += [(str(f.relative_to(peer_root)), ev.get("src_ip"),
                          ev["alert"]["signature_id"]) for ev in fa]
    peer = {"captures": runs, "windows": n_windows, "hours": round(seconds / 3600, 2),
            "false_alerts": len(alerted), "alerted": alerted[:20],
            "per_1000_windows": round(1000 * len(alerted) / max(n_windows, 1), 3),
            "per_hour": round(len(alerted) / max(seconds / 3600, 1e-9), 1),
            "flows": n_flows, "flow_alerts": len(flow_alerted),
            "flow_alerts_by_signature": dict(Counter(s for *_x, s in flow_alerted)),
            "flow_alerted": flow_alerted[:20]}
    return {"mix_background_after_training": mix, "peer_groundtruth": peer}


def run(pcap: Path, logdir: Path, rules: str | None) -> list[dict]:
    cmd = [sys.executable, "-m", "wirescore", "-q", "run", "-r", str(pcap), "-l", str(logdir)]
    if rules:
        cmd += ["--rules", rules]
    subprocess.run(cmd, check=True)
    return [json.loads(line) for line in open(logdir / "eve.json")
            if '"event_type":"alert"' in line]


def scans(workdir: Path, rules: str | None, train_end: float) -> list[dict]:
    link, background = read_frames(MIX)
    background = [(ts, b) for ts, b in background if ts < train_end]
    results = []
    for name, scanner in scan_cases():
        link_s, frames = read_frames(SCANS / name)
        if link_s != DLT_EN10MB or not scanner or not _ip_packets_from(frames, scanner):
            results.append({"capture": name, "skipped": "an ARP scan (wirescore sees IP "
                                                       "only), or not Ethernet"})
            continue
        stream = workdir / (Path(name).stem + ".pcap")
        write_after_training(stream, link, background, frames, train_end)
        alerts = run(stream, workdir / (stream.stem + "-logs"), rules)
        on_scanner = [a for a in alerts if a.get("src_ip") == scanner]
        targets = _targets_of(frames, scanner)
        on_target = [a for a in alerts if "flow" not in a and "src_ip" not in a
                     and a.get("dest_ip") in targets]
        other = [a for a in alerts if a not in on_scanner and a not in on_target]
        results.append({
            "capture": name, "scanner": scanner, "scan_packets": len(frames),
            "window_alerts_on_scanner": sum("flow" not in a for a in on_scanner),
            "flow_alerts_from_scanner": sum("flow" in a for a in on_scanner),
            "window_alerts_on_target": len(on_target),
            "other_alerts": len(other),
            "other_window_alerts": sum("flow" not in a for a in other),
            "signatures": dict(Counter(a["alert"]["signature_id"] for a in on_scanner)),
        })
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", help="profiles to evaluate (default: the shipped ones)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="keep the streams and logs in this folder")
    args = ap.parse_args(argv)
    shared_or_exit("scan_detect")             # one line: where the shared folder was sought
    if not MIX.exists() or not (SCANS / "LABELS.csv").exists():
        print(f"scan_detect: needs {MIX} and {SCANS / 'LABELS.csv'} (../shared/data)",
              file=sys.stderr)
        return 2
    summary = json.loads((MIX.parent / "mix-public.summary.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = {"scans": scans(workdir, args.rules, summary["train_end_ts"])}
    result["benign_windows"] = benign_windows(args.rules, summary["train_end_ts"])
    mix = eval_mix.evaluate_mix(MIX.parent, args.rules)
    result["background"] = {k: mix[k] for k in (
        "background_flows_after_training", "alerts_on_background",
        "false_alerts_per_1000_flows", "false_alerts_per_hour")}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{'scan capture (after 480 s of benign mix)':<52} {'scanner':<16} "
          f"{'win':>4} {'flow':>5} {'target':>7} {'other':>6} {'(win)':>6}")
    caught = caught_any = tried = 0
    for r in result["scans"]:
        if "skipped" in r:
            print(f"{r['capture']:<52} skipped: {r['skipped']}")
            continue
        tried += 1
        caught += r["window_alerts_on_scanner"] > 0
        caught_any += r["window_alerts_on_scanner"] + r["flow_alerts_from_scanner"] > 0
        print(f"{r['capture']:<52} {r['scanner']:<16} {r['window_alerts_on_scanner']:>4} "
              f"{r['flow_alerts_from_scanner']:>5} {r['window_alerts_on_target']:>7} "
              f"{r['other_alerts']:>6} {r['other_window_alerts']:>6}")
    b = result["background"]
    print(f"scanner caught by a window alert: {caught} of {tried}; by any alert naming it "
          f"as src_ip (window or flow): {caught_any} of {tried}")
    print(f"benign background of the mix after warm-up: {b['alerts_on_background']} false "
          f"alerts on {b['background_flows_after_training']} flows "
          f"({b['false_alerts_per_1000_flows']} per 1,000 flows, "
          f"{b['false_alerts_per_hour']} per hour)")
    m = result["benign_windows"]["mix_background_after_training"]
    print(f"window profiles on the mix's background after training: {m['false_alerts']} "
          f"false alerts on {m['windows']} windows {m['windows_by_key']} "
          f"({m['per_1000_windows']} per 1,000 windows, {m['per_hour']} per hour) "
          f"{m['false_alerts_by_signature']}")
    p = result["benign_windows"]["peer_groundtruth"]
    print(f"window profiles on {p['captures']} benign peer-groundtruth captures, each on its "
          f"own: {p['false_alerts']} alerts on {p['windows']} windows, {p['hours']} h "
          f"({p['per_1000_windows']} per 1,000 windows, {p['per_hour']} per hour)"
          + (f"; first: {p['alerted'][:5]}" if p["alerted"] else ""))
    print(f"flow profiles on the same captures: {p['flow_alerts']} alerts on {p['flows']} "
          f"flows {p['flow_alerts_by_signature']} (from each capture's first flow: the "
          f"tail profile's warm-up of 2,000 flows is longer than most)"
          + (f"; first: {p['flow_alerted'][:8]}" if p["flow_alerted"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
