"""Supervised workers (wirescore.workers.pool, "Supervision"): a worker killed with
SIGKILL (what the OOM killer does) mid-run is restarted in its slot; the run goes on
and ends normally.

On the veth wire of test_live.py, `wirescore run -i ws-a --workers 2`: a first capture
is replayed and left open in the flow tables, one worker is killed, the slot captures
again, a second capture is replayed, the run is stopped. Checked: exit status 0; every
eve.json line whole; the second capture's flows all there, equal to a file run's; of
the first capture's flows, those of the surviving worker are whole (equal to the
file's), and the others, lost with the dead worker's table, are exactly as many as the
run says it lost; the summed stats never go back. Past capture.worker_restarts restarts
in a minute, a dead worker stops the run with one line and exit status 1.

Skipped, with the reason, when not root, or without `ip netns` or tcpreplay.
"""
from __future__ import annotations

import os
import re
import signal
import time

import pytest
from test_live import (FIXTURES, GRACE_S, WorkersProcess, diff, directional_totals, file_run,
                       flow_key, live, read_lines, wire)  # noqa: F401  (wire: the fixture)

FIRST, SECOND = FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "ndpi-synscan.pcap"


def _wait_for(run, text: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.stderr.count(text) >= count:
            return
        if run.proc.poll() is not None:
            raise AssertionError(f"the run ended ({run.proc.returncode}):\n{run.stderr}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout:.0f} s:\n{run.stderr}")


@live
@pytest.mark.live
def test_killed_worker_is_restarted_and_the_run_ends_normally(wire, tmp_path):
    logdir = tmp_path / "logs"
    run = WorkersProcess(wire, logdir, "--stats-interval", "0.3")
    try:
        run.wait_ready()
        wire.replay(FIRST)
        time.sleep(GRACE_S + 1.0)              # both workers report their open flows
        kids = run.children()
        assert len(kids) == 2
        os.kill(kids[0], signal.SIGKILL)
        _wait_for(run, "restarted: capturing again")
        assert len(run.children()) == 2
        wire.replay(SECOND)
        time.sleep(GRACE_S)
    finally:
        rc = run.terminate()
    assert rc == 0, run.stderr
    err = run.stderr
    m = re.search(r"worker (\d) exited unexpectedly \(exit code -9\); restarting it "
                  r"\(restart 1 of the run; about (\d+) flows", err)
    assert m, err
    lost = int(m.group(2))
    events = read_lines(logdir / "eve.json")
    flows = [e for e in events if e["event_type"] == "flow"]
    first_file, _ = file_run(FIRST, tmp_path)
    second_file, _ = file_run(SECOND, tmp_path)
    first_keys = {flow_key(e) for e in first_file}
    assert not first_keys & {flow_key(e) for e in second_file}
    # the second capture, replayed after the restart: every packet in a flow
    got = directional_totals([e for e in flows if flow_key(e) not in first_keys])
    want = directional_totals(second_file)
    assert got == want, diff(want, got)
    # the first: the survivor's flows whole, the dead worker's gone, as many as counted
    kept = [e for e in flows if flow_key(e) in first_keys]
    want_first = directional_totals(first_file)
    got_first = directional_totals(kept)
    assert all(want_first[k] == v for k, v in got_first.items()), diff(want_first, got_first)
    assert lost > 0 and kept, "the kill should leave flows on both sides"
    assert len(first_file) - len(kept) == lost
    # the summed counters never go back
    stats = [e["stats"] for e in events if e["event_type"] == "stats"]
    pkts = [s["decoder"]["pkts"] for s in stats]
    assert pkts == sorted(pkts), pkts


def _kills_until_exit(run, kills: int) -> int:
    """SIGKILL a worker `kills` times (each after the restart of the one before); the
    run's exit status."""
    try:
        run.wait_ready()
        for n in range(kills):
            if n:
                _wait_for(run, "restarted: capturing again", count=n)
            os.kill(run.children()[0], signal.SIGKILL)
        return run.proc.wait(60)
    finally:
        if run.proc.poll() is None:
            run.terminate()


@live
@pytest.mark.live
def test_restarts_beyond_the_budget_stop_the_run(wire, tmp_path):
    logdir = tmp_path / "budget"
    run = WorkersProcess(wire, logdir, "--worker-restarts", "1")
    assert _kills_until_exit(run, 2) == 1, run.stderr
    assert "stopping the others (1 restarts in the last minute)" in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert "exited unexpectedly" in last, last
    read_lines(logdir / "eve.json")


@live
@pytest.mark.live
def test_no_restarts_keeps_the_old_rule(wire, tmp_path):
    logdir = tmp_path / "norestart"
    run = WorkersProcess(wire, logdir, "--worker-restarts", "0")
    assert _kills_until_exit(run, 1) == 1, run.stderr
    assert "restarting" not in run.stderr and "stopping the others" in run.stderr
    read_lines(logdir / "eve.json")
