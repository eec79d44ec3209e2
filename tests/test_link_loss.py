"""A live interface that goes away and comes back (wirescore.live link loss): the run
survives, keeps its flows, and captures again on the interface when it is back.

On the veth wire of test_live.py (a pair between two network namespaces the tests
create): the capture end goes down for 2 s and for 30 s, or is deleted and re-created
(a new interface of the same name: a new ifindex, a new capture handle), with one
capture handle (Engine in a thread) and with `wirescore run --workers 1|2`. Checked:
packets replayed before the loss and after the return all become flows equal to the
file runs' (per 5-tuple and direction), stats count the losses (capture.errors, one a
handle), eve.json holds an engine event when the link went and one when it came back,
every line whole and valid against Suricata's schema. --exit-on-link-loss keeps the
old behaviour (test_live.py test_interface_going_down_is_a_fault_after_everything_read).

Skipped, with the reason, when not root, or without `ip netns` or tcpreplay.
"""
from __future__ import annotations

import time

import pytest
from test_live import (CAP_IF, FIXTURES, GEN_IF, GRACE_S, LiveRun, WorkersProcess, _ip,
                       diff, directional_totals, file_run, live, read_lines,
                       schema_validator, wire)  # noqa: F401  (wire: the fixture)

FIRST, SECOND = FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "ndpi-synscan.pcap"
BACK_WITHIN_S = 20.0        # a returned link is captured again long before this


def _link(wire, state: str) -> None:
    _ip("-n", wire.cap_ns, "link", "set", CAP_IF, state)


def _recreate(wire) -> None:
    """Delete the capture end (both ends of a veth go) and make the pair again."""
    _ip("-n", wire.cap_ns, "link", "del", CAP_IF)
    _ip("link", "add", CAP_IF, "netns", wire.cap_ns, "mtu", "65535", "type", "veth",
        "peer", "name", GEN_IF, "netns", wire.gen_ns, "mtu", "65535")
    _ip("-n", wire.cap_ns, "link", "set", CAP_IF, "arp", "off", "up")
    _ip("-n", wire.gen_ns, "link", "set", GEN_IF, "arp", "off", "up")


def _wait(predicate, what: str, timeout: float = BACK_WITHIN_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def _want(tmp_path) -> object:
    return directional_totals(file_run(FIRST, tmp_path)[0] + file_run(SECOND, tmp_path)[0])


def _check_lines(events: list, handles: int) -> None:
    validator = schema_validator()
    if validator is not None:
        for e in events:
            errors = sorted(validator.iter_errors(e), key=str)
            assert not errors, f"{e['event_type']} line fails the schema: {errors[0].message}"
    engine = [e for e in events if e["event_type"] == "engine"]
    went = [e for e in engine if e["log_level"] == "Warning"]
    back = [e for e in engine if e["log_level"] == "Info"]
    assert len(went) == len(back) == handles, engine
    assert all(e["engine"]["module"] == "capture" and CAP_IF in e["engine"]["message"]
               for e in engine)
    assert all("capturing again after" in e["engine"]["message"] for e in back)
    last = [e for e in events if e["event_type"] == "stats"][-1]
    final = last["stats"]
    assert final["capture"]["errors"] == handles
    assert final["capture"]["kernel_drops"] == 0
    health = last["metadata"]["flowints"]["wirescore_health"]
    assert health["link_losses"] == handles
    assert health["seconds_without_capture"] > 0


@live
@pytest.mark.live
@pytest.mark.parametrize("down_s", [2, 30])
def test_link_down_and_back_one_handle(wire, tmp_path, down_s):
    run = LiveRun(wire, tmp_path / "logs")
    with run:
        wire.replay(FIRST)
        time.sleep(GRACE_S)
        _link(wire, "down")
        _wait(lambda: run.source.capture_state == "link_down", "the link loss noticed")
        assert run.thread.is_alive()
        time.sleep(down_s)
        _link(wire, "up")
        _wait(lambda: run.source.capture_state == "running", "capture resumed")
        wire.replay(SECOND)
        time.sleep(GRACE_S)
        run.stop()
    assert run.error is None, repr(run.error)
    assert run.source.link_downs == 1
    assert run.source.link_down_s >= down_s - 0.1
    assert run.summary.counters["wirescore.capture.link_down"] == 1
    got, want = directional_totals(run.events), _want(tmp_path)
    assert got == want, diff(want, got)
    _check_lines(read_lines(tmp_path / "logs" / "eve.json"), handles=1)


@live
@pytest.mark.live
def test_interface_recreated_one_handle(wire, tmp_path):
    run = LiveRun(wire, tmp_path / "logs")
    with run:
        wire.replay(FIRST)
        time.sleep(GRACE_S)
        _recreate(wire)
        _wait(lambda: run.source.link_downs == 1 and run.source.capture_state == "running",
              "capture on the re-created interface")
        wire.replay(SECOND)
        time.sleep(GRACE_S)
        run.stop()
    assert run.error is None, repr(run.error)
    got, want = directional_totals(run.events), _want(tmp_path)
    assert got == want, diff(want, got)
    _check_lines(read_lines(tmp_path / "logs" / "eve.json"), handles=1)


@live
@pytest.mark.live
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fault", ["down", "recreate"])
def test_link_loss_with_workers(wire, tmp_path, workers, fault):
    logdir = tmp_path / "logs"
    run = WorkersProcess(wire, logdir, "--stats-interval", "0.5", workers=workers)
    try:
        run.wait_ready()
        wire.replay(FIRST)
        time.sleep(GRACE_S)
        if fault == "down":
            _link(wire, "down")
            _wait(lambda: run.stderr.count("went down during the capture") >= workers,
                  "every worker noticed the link loss")
            time.sleep(2)
            _link(wire, "up")
        else:
            _recreate(wire)
        _wait(lambda: run.stderr.count("capturing again") >= workers,
              "every worker captures again")
        assert run.proc.poll() is None, run.stderr
        wire.replay(SECOND)
        time.sleep(GRACE_S)
    finally:
        rc = run.terminate()
    assert rc == 0, run.stderr
    events = read_lines(logdir / "eve.json")
    got = directional_totals([e for e in events if e["event_type"] == "flow"])
    want = _want(tmp_path)
    assert got == want, diff(want, got)
    _check_lines(events, handles=workers)
