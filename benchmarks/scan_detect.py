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

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SCANS = SHARED / "pcaps" / "labeled"
MIX = SHARED / "eval" / "mix-public.pcap"
DLT_EN10MB = 1


def read_frames(path: Path) -> tuple[int, list]:
    """(link type, [(ts, frame)]) of a pcap or pcapng file, read with dpkt."""
    import dpkt

    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        return reader.datalink(), [(float(ts), bytes(buf)) for ts, buf in reader]


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
        shift = train_end + 1 - frames[0][0]
        stream = workdir / (Path(name).stem + ".pcap")
        import dpkt

        with open(stream, "wb") as fh:
            writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=link)
            for ts, buf in background:
                writer.writepkt(buf, ts)
            for ts, buf in frames:
                writer.writepkt(buf, ts + shift)
        alerts = run(stream, workdir / (stream.stem + "-logs"), rules)
        on_scanner = [a for a in alerts if a.get("src_ip") == scanner]
        results.append({
            "capture": name, "scanner": scanner, "scan_packets": len(frames),
            "window_alerts_on_scanner": sum("flow" not in a for a in on_scanner),
            "flow_alerts_from_scanner": sum("flow" in a for a in on_scanner),
            "other_alerts": len(alerts) - len(on_scanner),
            "signatures": dict(Counter(a["alert"]["signature_id"] for a in on_scanner)),
        })
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", help="profiles to evaluate (default: the shipped ones)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", type=Path, help="keep the streams and logs in this folder")
    args = ap.parse_args(argv)
    if not MIX.exists() or not (SCANS / "LABELS.csv").exists():
        print(f"scan_detect: needs {MIX} and {SCANS / 'LABELS.csv'} (../shared/data)",
              file=sys.stderr)
        return 2
    summary = json.loads((MIX.parent / "mix-public.summary.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = {"scans": scans(workdir, args.rules, summary["train_end_ts"])}
    mix = eval_mix.evaluate_mix(MIX.parent, args.rules)
    result["background"] = {k: mix[k] for k in (
        "background_flows_after_training", "alerts_on_background",
        "false_alerts_per_1000_flows", "false_alerts_per_hour")}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{'scan capture (after 480 s of benign mix)':<52} {'scanner':<16} "
          f"{'win':>4} {'flow':>5} {'other':>6}")
    caught = tried = 0
    for r in result["scans"]:
        if "skipped" in r:
            print(f"{r['capture']:<52} skipped: {r['skipped']}")
            continue
        tried += 1
        caught += r["window_alerts_on_scanner"] > 0
        print(f"{r['capture']:<52} {r['scanner']:<16} {r['window_alerts_on_scanner']:>4} "
              f"{r['flow_alerts_from_scanner']:>5} {r['other_alerts']:>6}")
    b = result["background"]
    print(f"scanner caught by a window alert: {caught} of {tried}")
    print(f"benign background of the mix after warm-up: {b['alerts_on_background']} false "
          f"alerts on {b['background_flows_after_training']} flows "
          f"({b['false_alerts_per_1000_flows']} per 1,000 flows, "
          f"{b['false_alerts_per_hour']} per hour)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
