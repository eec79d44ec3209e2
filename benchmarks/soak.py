"""A soak run of the live sensor with faults injected (issue "A sensor that stays up").

    sudo python benchmarks/soak.py --minutes 30 --out soak.json

What it does, on this machine only (root: network namespaces, a tmpfs):
- a veth pair between two network namespaces (no addresses, no ARP, no IPv6, no
  forwarding: replayed frames reach the capture end and nothing else);
- `wirescore run -i <veth> --workers 2` with detection, its log directory on a small
  tmpfs (eve.json rotated by size, snippets bounded), stats every 5 s;
- tcpreplay of a capture (default: the public evaluation mix) in a loop at a steady
  packet rate, with --unique-ip (each loop's addresses shifted: new hosts and flows all
  the time, so flow table and host context are kept busy, not replayed identically);
- three faults, at fixed fractions of the run: the link goes down for 5 s (at 20 %),
  the log file system is filled to the last byte for 60 s (at 35 %), one worker is
  killed with SIGKILL (at 85 %);
- the resident memory of the sensor (parent and workers, summed from /proc) sampled
  every 5 s.
At the end the sensor is stopped with SIGTERM, and the report (JSON, and one summary
line on stderr) gives: exit status, RSS after warm-up and its maximum after that until
the worker kill, packets sent and captured, kernel drops, the faults as the sensor
counted them (capture.errors and the health object's link losses, the EVE and snippet
outputs' episodes from the log, worker restarts and flows lost), and whether every line
of every eve.json file parses.

Warm-up: with --unique-ip every loop brings new flows and hosts, so the flow tables fill
until flows leave as fast as they come, which takes the longest idle timeout of the
traffic (established TCP: 600 s) plus the loop; the bounded host tables fill on the same
time scale. Warm-up is therefore the first half of the run (15 minutes of 30), and the
RSS is judged from there to the worker kill (a restarted worker starts empty).

The pass conditions a reader checks (printed as `ok` fields): exit status 0, every line
whole, each fault visible in the output, RSS bounded (maximum between warm-up and the
kill within 10 % of the value at the end of warm-up). Not a pytest benchmark: 30 minutes is a soak, not a
measurement to repeat per change; its numbers go into the closing note of the work.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared_data import shared_path

log = logging.getLogger("soak")

CAP_IF, GEN_IF = "soak-a", "soak-b"
TMPFS_MB = 96
SAMPLE_S = 5.0
WARMUP_AT = 0.5          # fraction of the run: flow and host tables full (docstring)
KILL_AT = 0.85


def ip(*args: str, check: bool = True) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"soak: ip {' '.join(args)}: {proc.stderr.strip()}")


class Wire:
    """The veth pair soak-a (capture namespace) <-> soak-b (generator namespace)."""

    def __init__(self):
        self.cap_ns, self.gen_ns = f"soakcap{os.getpid()}", f"soakgen{os.getpid()}"

    def up(self) -> None:
        for ns in (self.cap_ns, self.gen_ns):
            ip("netns", "add", ns)
            ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.ip_forward=0")
        ip("link", "add", CAP_IF, "netns", self.cap_ns, "mtu", "65535", "type", "veth",
           "peer", "name", GEN_IF, "netns", self.gen_ns, "mtu", "65535")
        ip("-n", self.cap_ns, "link", "set", CAP_IF, "arp", "off", "up")
        ip("-n", self.gen_ns, "link", "set", GEN_IF, "arp", "off", "up")

    def link(self, state: str) -> None:
        ip("-n", self.cap_ns, "link", "set", CAP_IF, state)

    def down(self) -> None:
        for ns in (self.cap_ns, self.gen_ns):
            ip("netns", "del", ns, check=False)


def tree_rss_kb(pid: int) -> int:
    """Resident memory of pid and its children (kB, from /proc)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        me = int(status.parent.name)
        ppid = re.search(r"^PPid:\s+(\d+)$", text, re.M)
        if me != pid and not (ppid and int(ppid.group(1)) == pid):
            continue
        rss = re.search(r"^VmRSS:\s+(\d+) kB$", text, re.M)
        total += int(rss.group(1)) if rss else 0
    return total


def children(pid: int) -> list[int]:
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        m = re.search(r"^PPid:\s+(\d+)$", text, re.M)
        if m and int(m.group(1)) == pid:
            kids.append(int(status.parent.name))
    return kids


def fill(mount: Path) -> Path:
    """A file that takes every free byte of the file system at mount."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as fh:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass
        try:                               # the last partial MiB
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass
    return filler


def read_all_lines(logdir: Path) -> tuple[list[dict], list[str]]:
    """Every EVE line of eve.json and its rotated files, oldest first (eve.json.N ...
    eve.json.1, eve.json); the files with a bad line."""
    events, bad = [], []

    def age(path: Path) -> int:
        suffix = path.name[len("eve.json"):].lstrip(".")
        return -int(suffix) if suffix.isdigit() else 0

    for path in sorted(logdir.glob("eve.json*"), key=age):
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            bad.append(f"{path.name}: ends in the middle of a line")
        for line in data.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                bad.append(f"{path.name}: a line that does not parse")
                break
    return events, bad


def run(args) -> dict:
    duration = args.minutes * 60.0
    wire = Wire()
    mount = Path(f"/tmp/wirescore-soak-{os.getpid()}")
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount)],
                   check=True)
    logdir = mount / "logs"
    report: dict = {"minutes": args.minutes, "pps": args.pps, "capture": str(args.pcap)}
    sensor = replay = None
    try:
        wire.up()
        err = open(mount.parent / f"wirescore-soak-{os.getpid()}.stderr", "w")
        report["stderr"] = err.name
        cmd = ["ip", "netns", "exec", wire.cap_ns, sys.executable, "-m", "wirescore",
               "run", "-i", CAP_IF, "-l", str(logdir), "--workers", str(args.workers),
               "--stats-interval", "5", "--eve-rotate-size", str(8 << 20),
               "--eve-rotate-keep", "3", "--snippet-max-bytes", str(8 << 20),
               "--snippet-max-files", "200"]
        sensor = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while " capturing (" not in Path(err.name).read_text():
            if sensor.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"soak: the sensor did not start:\n{Path(err.name).read_text()}")
            time.sleep(0.1)
        replay = subprocess.Popen(["ip", "netns", "exec", wire.gen_ns, "tcpreplay", "-q",
                                   "-i", GEN_IF, f"--pps={args.pps}", "--loop=0",
                                   "--unique-ip", str(args.pcap)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = time.monotonic()
        faults = [(0.20, "link_flap"), (0.35, "disk_full"), (KILL_AT, "worker_kill")]
        samples, done = [], []
        filler = None
        while (now := time.monotonic() - start) < duration:
            samples.append((round(now, 1), tree_rss_kb(sensor.pid)))
            if sensor.poll() is not None:
                report["died_at_s"] = round(now, 1)
                break
            for at, name in faults:
                if name in done or now < at * duration:
                    continue
                done.append(name)
                log.info("%.0f s: %s", now, name)
                if name == "link_flap":
                    wire.link("down")
                    time.sleep(5)
                    wire.link("up")
                elif name == "disk_full":
                    report["log_dir_before_full"] = {
                        str(f.relative_to(logdir)): f.stat().st_size
                        for f in logdir.rglob("*") if f.is_file()} if args.verbose else None
                    report["log_dir_mb_before_full"] = round(sum(
                        f.stat().st_size for f in logdir.rglob("*") if f.is_file()) / 1e6, 1)
                    filler = fill(mount)
                    report["disk_full_at_s"] = round(now, 1)
                elif name == "worker_kill":
                    kids = children(sensor.pid)
                    if kids:
                        os.kill(kids[0], signal.SIGKILL)
            if filler is not None and now > report["disk_full_at_s"] + 60:
                filler.unlink()
                filler = None
            time.sleep(SAMPLE_S)
        replay.send_signal(signal.SIGINT)
        replay.wait(30)
        time.sleep(1)
        sensor.send_signal(signal.SIGTERM)
        report["exit_status"] = sensor.wait(120)
        err.close()
        report.update(summarise(samples, duration, logdir, Path(err.name).read_text(),
                                args.workers))
    finally:
        for proc in (replay, sensor):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        wire.down()
        if args.keep:
            shutil.copytree(logdir, args.keep, dirs_exist_ok=True)
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()
    return report


def summarise(samples: list, duration: float, logdir: Path, stderr: str,
              workers: int) -> dict:
    warm = [kb for t, kb in samples if WARMUP_AT * duration <= t < KILL_AT * duration]
    rss_warm = warm[0] if warm else 0
    rss_max = max(warm) if warm else 0
    events, bad = read_all_lines(logdir)
    stats = [e for e in events if e.get("event_type") == "stats"]
    final = stats[-1]["stats"] if stats else {}
    last_health = (stats[-1].get("metadata", {}).get("flowints", {})
                   .get("wirescore_health") if stats else None) or {}
    engine = [e for e in events if e.get("event_type") == "engine"]
    restarts = len(re.findall(r"restarting it", stderr))
    lost = [int(n) for n in re.findall(r"about (\d+) flows in progress lost", stderr)]
    eve_full = len(re.findall(r"EVE file .*: cannot write: No space left on device", stderr))
    eve_back = re.findall(r"EVE file .*: writing again \((\d+) lines dropped so far\)", stderr)
    snip_full = len(re.findall(r"snippets .*: cannot write .*No space left on device", stderr))
    snip_back = re.findall(r"snippets .*: writing again \((\d+) snippets dropped", stderr)
    out = {
        "rss_kb_after_warmup": rss_warm,
        "rss_kb_max_after_warmup": rss_max,
        "rss_growth": round(rss_max / rss_warm - 1, 3) if rss_warm else None,
        "rss_series_kb": samples[:: max(1, len(samples) // 60)],
        "eve_lines": len(events),
        "eve_bad_files": bad,
        "captured_packets": final.get("decoder", {}).get("pkts"),
        "kernel_drops": final.get("capture", {}).get("kernel_drops"),
        "capture_errors": final.get("capture", {}).get("errors"),
        "engine_events_kept": [e["engine"]["message"] for e in engine],
        "link_back_logged": stderr.count("the interface is back after"),
        "eve_full_episodes": eve_full,
        "eve_resumed": len(eve_back),
        "eve_lines_dropped": int(eve_back[-1]) if eve_back else None,
        "snippet_full_logged": snip_full,
        "snippets_dropped": sum(int(n) for n in snip_back),
        "worker_restarts": restarts,
        "flows_lost": sum(lost),
        "last_health": last_health,
        "stderr_tail": stderr.strip().splitlines()[-8:],
    }
    out["ok"] = {
        "whole_lines": not bad,
        "link_flap_seen": (out["capture_errors"] or 0) >= workers
        and last_health.get("link_losses", 0) >= workers
        and out["link_back_logged"] >= workers,
        "disk_full_survived": eve_full >= 1 and len(eve_back) >= 1,
        "worker_restarted": restarts >= 1,
        "rss_bounded": out["rss_growth"] is not None and out["rss_growth"] <= 0.10,
    }
    return out


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="soak: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--pps", type=int, default=2000, help="replay rate (packets/s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pcap", type=Path, default=None,
                        help="capture to loop (default: the public evaluation mix)")
    parser.add_argument("--out", type=Path, default=Path("soak.json"))
    parser.add_argument("--verbose", action="store_true",
                        help="list the log directory's files in the report")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the log directory here at the end")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces, a tmpfs)", file=sys.stderr)
        return 2
    if args.pcap is None:
        args.pcap = shared_path("data", "eval", "mix-public.pcap")
    report = run(args)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    log.info("exit %s; RSS %s -> %s kB after warm-up; %s lines; ok: %s; report %s",
             report.get("exit_status"), report.get("rss_kb_after_warmup"),
             report.get("rss_kb_max_after_warmup"), report.get("eve_lines"),
             report.get("ok"), args.out)
    return 0 if report.get("exit_status") == 0 and all(report.get("ok", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
