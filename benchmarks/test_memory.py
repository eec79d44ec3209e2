"""Peak resident memory of a whole `wirescore run`, measured on a child process.

Each benchmark runs one command in a fresh interpreter and reads that child's own
ru_maxrss from os.wait4 in a small launcher (see LAUNCHER; Linux: KiB; reported in
MB = 10**6 bytes), so the numbers
include the interpreter, imports and every buffer the run needed, and nothing of
the pytest process. The timed call is the whole child (start-up included), one round.

- bare loop: python + pcapy-ng reading the bench capture (the floor);
- full run: `python -m wirescore run -r BENCH -l DIR --no-detect`;
- N concurrent flows: the same on a capture of N distinct one-packet UDP flows within
  10 s of packet time, with UDP idle timeouts of one hour and the default --max-flows
  (1,048,576), so every flow is still in the table at the end of input. Goal: <= 400 MB
  with 1,000,000 flows.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import workloads
from goals import GOAL_FLOWS, GOAL_RSS_FLOWS_MB

CHILD_TIMEOUT = 900.0     # seconds before a child is killed
FLOW_EVENT = re.compile(rb'"event_type"\s*:\s*"flow"')
SHUTDOWN = re.compile(rb'"reason"\s*:\s*"shutdown"')
BARE_CHILD = f"""
import sys, pcapy
r = pcapy.open_offline(sys.argv[1]); n = 0
while True:
    data, meta = r.next_batch({workloads.BATCH})
    if not meta:
        break
    n += len(meta) // 16
print(n)
"""


class ChildRun:
    """Outcome of run_child: exit status, peak RSS (MB), CPU and wall time (s), output."""

    def __init__(self, argv, returncode, maxrss_kib, cpu_s, wall_s, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.peak_rss_mb = maxrss_kib * 1024 / 1e6
        self.cpu_s = cpu_s
        self.wall_s = wall_s
        self.stdout = stdout
        self.stderr = stderr

    def check(self):
        if self.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, self.argv))} exited {self.returncode}:\n"
                                 f"{self.stderr[-4000:]}")
        return self


# Measures its child: a process forked from pytest would start with pytest's own peak
# (Linux keeps the largest RSS of the old image across exec in ru_maxrss), so a small
# `python -S` launcher forks the command, waits for it and writes its ru_maxrss (KiB).
# The launcher's own size (about 5 MB) is the floor of what can be measured. It also
# writes the command's CPU time (user + system, s): unlike wall time, it hardly moves
# when other processes share the machine.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def run_child(argv: list[str], timeout: float = CHILD_TIMEOUT) -> ChildRun:
    """Run argv (argv[0] an absolute path) to completion and measure its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file, out_file, err_file = (Path(tmp) / n for n in ("maxrss", "out", "err"))
        t0 = time.perf_counter()
        with open(out_file, "wb") as out, open(err_file, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-S", "-E", "-c", LAUNCHER, str(rss_file),
                                     *map(str, argv)], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)     # the launcher and the command
                proc.wait()
                raise AssertionError(f"{' '.join(map(str, argv))} ran over {timeout} s")
        wall = time.perf_counter() - t0
        maxrss, cpu = rss_file.read_text().split() if rss_file.is_file() else (0, 0)
        return ChildRun(argv, proc.returncode, int(maxrss), float(cpu), wall,
                        out_file.read_text(errors="replace"), err_file.read_text(errors="replace"))


def _record(benchmark, summary, name: str, child: ChildRun, packets: int, **extra):
    summary.rss_mb[name] = child.peak_rss_mb
    summary.child_s[name] = (child.cpu_s, child.wall_s)
    benchmark.extra_info.update(mode=summary.mode, peak_rss_mb=round(child.peak_rss_mb, 1),
                                packets=packets, wall_s=round(child.wall_s, 3),
                                cpu_s=round(child.cpu_s, 3),
                                packets_per_s_with_startup=round(packets / child.wall_s, 1),
                                **extra)


def _wirescore_argv(pcap: Path, logdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wirescore", "run", "-r", str(pcap), "-l", str(logdir),
            "--no-detect", *extra]


@pytest.fixture(scope="session")
def wirescore_importable():
    try:
        import wirescore.cli  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"wirescore is not importable ({exc}); run `pip install -e .` first")


@pytest.mark.benchmark(group="memory")
def test_peak_rss_bare_loop(benchmark, bench_pcap, summary):
    """Peak RSS (MB) of python + pcapy-ng counting the bench capture's packets."""
    child = benchmark.pedantic(run_child, args=([sys.executable, "-c", BARE_CHILD, bench_pcap],),
                               rounds=1, iterations=1).check()
    assert int(child.stdout.strip()) == summary.packets
    _record(benchmark, summary, "bare", child, summary.packets, capture=summary.capture)


@pytest.mark.benchmark(group="memory")
def test_peak_rss_full_run(benchmark, bench_pcap, summary, wirescore_importable, tmp_path):
    """Peak RSS (MB) of `python -m wirescore run` over the bench capture."""
    argv = _wirescore_argv(bench_pcap, tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    child = benchmark.pedantic(run_child, args=(argv,), rounds=1, iterations=1).check()
    _record(benchmark, summary, "full", child, summary.packets, capture=summary.capture)


@pytest.mark.benchmark(group="memory")
def test_peak_rss_concurrent_flows(benchmark, flows_pcap, bench_mode, summary,
                                   wirescore_importable, tmp_path, pytestconfig):
    """Peak RSS (MB) of a run holding bench_mode.flows flows at once (goal 400 MB at 1M).

    Checks the premise too: every flow must end at shutdown (none expired or evicted).
    """
    n = bench_mode.flows
    logdir = tmp_path / "logs"
    logdir.mkdir()
    argv = _wirescore_argv(flows_pcap, logdir,
                           "--flow-timeout-udp-new", "3600",
                           "--flow-timeout-udp-established", "3600")
    child = benchmark.pedantic(run_child, args=(argv,), rounds=1, iterations=1).check()
    eve = (logdir / "eve.json").read_bytes()
    flows_out, at_shutdown = len(FLOW_EVENT.findall(eve)), len(SHUTDOWN.findall(eve))
    _record(benchmark, summary, "flows", child, n, flows=n, flow_events=flows_out,
            flow_events_at_shutdown=at_shutdown, capture=flows_pcap.name)
    assert flows_out == n, f"{flows_out} flow events for {n} one-packet flows"
    assert at_shutdown == n, (f"only {at_shutdown} of {n} flows ended at shutdown: "
                              "they were not all concurrent")
    if pytestconfig.getoption("bench_check_goals") and n >= GOAL_FLOWS:
        assert child.peak_rss_mb <= GOAL_RSS_FLOWS_MB, (
            f"peak RSS {child.peak_rss_mb:.1f} MB with {n:,} flows > goal {GOAL_RSS_FLOWS_MB} MB")


def test_flows_workload_is_sound(flows_pcap, bench_mode):
    """The synthetic capture holds N packets of N distinct flows with valid IPv4 checksums."""
    import dpkt
    import numpy as np

    n = bench_mode.flows
    assert workloads.count_packets(flows_pcap) == n
    rec = workloads.udp_flow_frames(n)
    assert flows_pcap.stat().st_size == 24 + rec.nbytes
    assert len(np.unique(rec["src"])) == n          # one source address per flow
    with open(flows_pcap, "rb") as fh:
        for i, (ts, buf) in enumerate(dpkt.pcap.Reader(fh)):
            if i >= 3:
                break
            ip = dpkt.ethernet.Ethernet(buf).data
            got = ip.sum
            ip.sum = 0
            assert dpkt.ip.IP(bytes(ip)).sum == got              # dpkt recomputes it
            assert isinstance(ip.data, dpkt.udp.UDP) and len(buf) == workloads.FRAME_LEN
