"""The parts of --workers N that need no network: the EVE relay (whole lines from real
FIFOs), the stats merge (counters sent as data, summed as data) and the signals helper
every process of a run uses. The workers themselves run in tests/test_live.py (root,
network namespaces).
"""
from __future__ import annotations

import os
import signal

import pytest

from wirescore import signals
from wirescore.outputs.eve import EveWriter
from wirescore.workers import stats
from wirescore.workers.relay import (EveRelay, RelayTarget, event_type, pipe_name,
                                     relay_types, select_types)


def file_target(path) -> RelayTarget:
    return RelayTarget(EveWriter(path), "eve", f"EVE file {path}")


def test_relay_writes_whole_lines_only_and_counts_what_a_dead_worker_left(tmp_path):
    relay = EveRelay(tmp_path, [file_target(tmp_path / "eve.json")], 2)
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "eve.json")
    assert names == [pipe_name(os.getpid(), 1), pipe_name(os.getpid(), 2)]
    one, two = relay.pipes
    w1 = os.open(one.path, os.O_WRONLY)
    w2 = os.open(two.path, os.O_WRONLY)
    os.write(w1, b'{"a":1}\n{"b":')              # a line and half of the next
    os.write(w2, b'{"c":3}\n')
    assert relay.drain(one) and relay.drain(two)
    os.write(w1, b'2}\n{"unfinished":')
    assert relay.drain(one)
    os.close(w1)                                 # worker 1 dies in the middle of a line
    os.close(w2)
    assert not relay.drain(one) and not relay.drain(two)
    assert (tmp_path / "eve.json").read_bytes() == b'{"a":1}\n{"c":3}\n{"b":2}\n'
    assert relay.partial_lost == len(b'{"unfinished":') and relay.lines_relayed == 3
    relay.close()
    assert [p.name for p in tmp_path.iterdir()] == ["eve.json"]


def test_event_type_and_select_types_read_the_line_bytes():
    lines = [b'{"timestamp":"t","event_type":"alert","alert":{"signature":"x"}}\n',
             b'{"timestamp":"t","event_type":"flow","flow":{}}\n',
             b'{"timestamp":"t","flow":{"event_type":"alert"}}\n',      # a nested key only
             b'{"no":"type"}\n',
             b'{"timestamp":"t","event_type":"dns","dns":{}}\n']
    assert [event_type(x) for x in lines] == [b"alert", b"flow", b"alert", b"", b"dns"]
    block = b"".join(lines)
    # a line naming no type is kept; the others by their type
    assert select_types(block, frozenset({b"alert"})) == lines[0] + lines[2] + lines[3]
    assert select_types(block, frozenset({b"flow", b"dns"})) == \
        lines[1] + lines[3] + lines[4]
    assert select_types(b"", frozenset({b"flow"})) == b""


def test_relay_types_are_the_union_of_the_outputs():
    from wirescore.outputs.eve_targets import EveOutput

    def out(types):
        return EveOutput("x", "regular", "x.json", types)

    assert relay_types([out("all")]) == "all"
    assert relay_types([out("alert"), out("flow,alert")]) == "alert,flow"
    assert relay_types([out("alert"), out("all")]) == "all"
    with pytest.raises(Exception, match="unknown event type 'nope'"):
        relay_types([out("nope")])


def test_relay_gives_each_output_its_types_and_a_datagram_peer_whole_lines(tmp_path):
    """--workers N with one stream and more outputs: the main file gets every line, an
    alerts-only file the alerts, a unix datagram peer (a real socket) one datagram a
    line; the parent's stats lines go only where stats are taken; a peer that is away
    keeps its lines until pump() finds it there."""
    import socket as socket_mod

    from wirescore.outputs.eve_sockets import SocketOutput

    sock_path = str(tmp_path / "peer.sock")
    peer_out = SocketOutput(f"EVE unix_dgram {sock_path}", "unix_dgram", sock_path,
                            socket_mod.SOCK_DGRAM, 1 << 20)
    targets = [file_target(tmp_path / "eve.json"),
               RelayTarget(EveWriter(tmp_path / "alerts.json"), "regular",
                           "EVE file alerts.json", frozenset({b"alert"})),
               RelayTarget(peer_out, "unix_dgram", peer_out.name,
                           frozenset({b"flow", b"stats"}))]
    relay = EveRelay(tmp_path, targets, 1)
    (pipe,) = relay.pipes
    w = os.open(pipe.path, os.O_WRONLY)
    alert = b'{"timestamp":"1","event_type":"alert","alert":{}}\n'
    flow = b'{"timestamp":"2","event_type":"flow","flow":{}}\n'
    os.write(w, alert + flow)
    assert relay.drain(pipe)                    # the peer is not there yet: kept
    assert peer_out.counters()["wirescore.output.unix_dgram.lines"] == 0
    listener = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)
    listener.bind(sock_path)
    listener.settimeout(5)
    try:
        peer_out._next_try = 0.0                # the retry second need not pass here
        relay.pump()
        assert listener.recv(65536) == flow
        stats_line = b'{"timestamp":"3","event_type":"stats","stats":{}}\n'
        relay.write(stats_line)
        assert listener.recv(65536) == stats_line
        os.write(w, alert)
        os.close(w)
        assert relay.drain(pipe)                # the line; the end of file next time
        assert not relay.drain(pipe)
        relay.close()
    finally:
        listener.close()
    assert (tmp_path / "eve.json").read_bytes() == alert + flow + stats_line + alert
    assert (tmp_path / "alerts.json").read_bytes() == alert + alert
    assert peer_out.counters() == {"wirescore.output.unix_dgram.lines": 2,
                                   "wirescore.output.unix_dgram.dropped": 0,
                                   "wirescore.output.unix_dgram.reconnects": 0}


def stats_event(ts: str, uptime: int, packets: int, drops: int, tcp: int) -> dict:
    return {"timestamp": ts, "event_type": "stats",
            "stats": {"uptime": uptime, "capture": {"kernel_packets": packets,
                                                    "kernel_drops": drops},
                      "flow": {"tcp": tcp}}}


def test_stats_merge_sums_when_every_running_worker_reported(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(stats.time, "monotonic", lambda: now[0])
    merge = stats.StatsMerge("eth9", interval_s=60)
    assert merge.summed() is None and merge.final() is None
    merge.report(2, stats_event("2024-01-01T00:01:00.000000+0000", 60, 10, 1, 3))
    assert not merge.due([1, 2])                 # worker 1 has not reported yet
    assert merge.due([2])                        # ... unless it is no longer running
    now[0] += 31                                 # half an interval: no more waiting
    assert merge.due([1, 2])
    now[0] -= 31
    merge.report(1, stats_event("2024-01-01T00:01:00.500000+0000", 61, 5, 0, 4))
    assert merge.due([1, 2])
    assert merge.summed() == {"timestamp": "2024-01-01T00:01:00.500000+0000",
                              "event_type": "stats",
                              "stats": {"uptime": 61,
                                        "capture": {"kernel_packets": 15, "kernel_drops": 1},
                                        "flow": {"tcp": 7}}}
    assert not merge.due([1, 2]) and merge.final() is None   # nothing new since
    # ... but a worker's last flows relayed after that event need stats after them
    assert merge.final(lines_since_last=True)["stats"]["capture"]["kernel_packets"] == 15
    merge.report(1, stats_event("2024-01-01T00:02:00.500000+0000", 121, 9, 0, 6))
    final = merge.final()
    assert final["stats"]["capture"] == {"kernel_packets": 19, "kernel_drops": 1}
    assert final["timestamp"] == "2024-01-01T00:02:00.500000+0000"


def test_summary_sums_the_workers_reports():
    done = [{"packets": 10, "flows": 4, "alerts": 1,
             "counters": {"decoder.pkts": 10, "decoder.invalid": 1, "wirescore.nonip": 2},
             "nonip_ethertypes": {0x0806: 2}},
            {"packets": 5, "flows": 2, "alerts": 0,
             "counters": {"decoder.pkts": 5, "decoder.invalid": 0, "wirescore.nonip": 1},
             "nonip_ethertypes": {0x0806: 1, 0x88cc: 3}},
            {}]                                  # a worker that never reported
    s = stats.summary("eth9", 3, done, 2.0, None, "logs/eve.json")
    assert (s.source, s.packets, s.flows, s.alerts, s.decode_errors, s.nonip) == \
        ("eth9 (3 workers)", 15, 6, 1, 1, 3)
    assert s.counters["decoder.pkts"] == 15
    assert s.nonip_ethertypes == {0x0806: 3, 0x88cc: 3}


def test_signals_stop_reopen_and_restore():
    seen = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT,
                                                      signal.SIGHUP)}
    restore = signals.install(lambda: seen.append("stop"), lambda: seen.append("reopen"),
                              interrupt=False)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == ["reopen", "stop"]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        restore()
    assert {sig: signal.getsignal(sig) for sig in before} == before
    restore = signals.install(lambda: seen.append("stop"))
    try:
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
        assert seen[-1] == "stop"
    finally:
        restore()


def test_stop_switch_passes_an_early_stop_to_the_engine():
    class Engine:
        stopped = reopened = 0

        def stop(self):
            self.stopped += 1

        def reopen_outputs(self):
            self.reopened += 1

    switch = signals.StopSwitch()
    switch.reopen()                              # nothing to reopen yet
    switch.stop()
    engine = Engine()
    switch.attach(engine)
    assert engine.stopped == 1
    switch.reopen()
    assert engine.reopened == 1


@pytest.mark.parametrize("workers, per_worker, eve", [(0, False, ["eve.json"]),
                                                      (2, False, ["eve.json"]),
                                                      (2, True, ["eve.1.json", "eve.2.json"])])
def test_run_outputs_name_every_file(tmp_path, workers, per_worker, eve):
    from wirescore.config import Config
    from wirescore.outputs.paths import run_outputs

    cfg = Config.load(overrides={"outputs.export": str(tmp_path / "f.csv")})
    outs = run_outputs(cfg, tmp_path / "logs", workers, per_worker)
    names = [(o.what, o.path.name) for o in outs]
    exports = [f"f.{i}.csv" for i in range(1, workers + 1)] if workers else ["f.csv"]
    assert names == [("log directory", "logs")] + [("EVE file", e) for e in eve] + \
        [("export", e) for e in exports] + [("snippets directory", "pcaps")]


def test_stats_of_a_dead_worker_stay_in_the_sum():
    """StatsMerge.retire: a restarted worker starts from zero, the summed counts never go
    back; its gauges (flow.active, memuse, uptime) leave with it; its kernel drops and
    link losses and its outputs' dropped lines stay in the merged health object (an
    output only it reported too); the final state is the live ones'."""
    from wirescore import health
    from wirescore.workers.stats import StatsMerge

    def event(pkts, drops, losses, state="running", outputs=None):
        h = health.build(10, state, None, drops, outputs or {})
        health.put_link(h, losses, 5.0)
        return health.put({"timestamp": "t", "event_type": "stats",
                           "stats": {"decoder": {"pkts": pkts}, "uptime": 10,
                                     "flow": {"active": 5, "memuse": 100}}}, h)

    merge = StatsMerge("eth0", 1.0)
    spilled = {"state": "waiting", "queued_bytes": 4096, "dropped": 7}
    merge.report(1, event(100, 3, 1, outputs={"eve": spilled, "export": spilled}))
    merge.report(2, event(50, 0, 1, outputs={"eve": {"state": "writing", "queued_bytes": 0,
                                                      "dropped": 2}}))
    assert merge.summed()["stats"]["decoder"]["pkts"] == 150
    merge.retire(1)
    merge.report(1, event(10, 0, 0, "stopped"))
    merge.report(2, event(60, 0, 1, "stopped",
                          outputs={"eve": {"state": "writing", "queued_bytes": 0,
                                           "dropped": 2}}))
    out = merge.summed()
    assert out["stats"] == {"decoder": {"pkts": 170}, "uptime": 10,
                            "flow": {"active": 10, "memuse": 200}}
    got = health.get(out)
    assert (got["capture_state"], got["kernel_drops"], got["link_losses"],
            got["seconds_without_capture"]) == ("stopped", 3, 2, 15.0)
    # worker 2 is still at 2 dropped eve lines; the dead worker's 7 and 7 stay counted,
    # its queue left with it
    assert got["outputs"] == {"eve": {"state": "writing", "queued_bytes": 0, "dropped": 9},
                              "export": {"state": "writing", "queued_bytes": 0,
                                         "dropped": 7}}
