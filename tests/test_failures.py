"""A failure inside a run (a profile's model, an output sink, a callback) loses nothing
already decided, is named in one line, and ends the run non-zero.

The rule (README, "Output"): the run stops at the first failure; the flows of the batch
at hand and every flow still open (reason shutdown) go to every output that still works
(after a profile failed, without detection), then the final stats event; the exit status
is 1 with one line naming the profile, sink or callback; `--debug` adds the traceback.

Failures are real code raising where it runs: a River model whose score_one raises after
some calls (patched in the wirescore process the test starts), a user model object given
through the API, an export or eve.json written to /dev/full (ENOSPC on write), callbacks
that raise. What was written is checked against a run of the same capture that did not
fail: every flow that ended before the stop is there with the same packets, bytes,
times and reason, and every packet read is in a flow.
"""
from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import FIXTURES, read_eve, run_wirescore
from wirescore.config import Config
from wirescore.engine import Engine, RunFault
from wirescore.rules import load_file

PCAP = FIXTURES / "ndpi-synscan.pcap"        # 2011 packets over 23 s, 1994 flows
#: short timeouts, so that flows end during the run; small batches, so that a failure
#: happens in the middle of it
SETTINGS = {"flow.timeouts.tcp.new": 2.0, "flow.timeouts.tcp.closed": 1.0,
            "capture.batch_size": 200}
FLAGS = ["--flow-timeout-tcp-new", "2", "--flow-timeout-tcp-closed", "1",
         "--batch-size", "200"]

PROFILE = """\
id: 9999001
name: a model that fails part-way
features: [flow.bytes_toserver, flow.duration]
model: {name: "river:anomaly.HalfSpaceTrees", params: {seed: 1}}
threshold: {fixed: 0.5}
warmup: 10
"""

#: `wirescore ARGS` with River's HalfSpaceTrees.score_one raising after CALLS calls
BREAKING_CLI = """\
import sys
from river import anomaly
calls = [0]
original = anomaly.HalfSpaceTrees.score_one
def score_one(self, x):
    calls[0] += 1
    if calls[0] > {calls}:
        raise ValueError("the model broke")
    return original(self, x)
anomaly.HalfSpaceTrees.score_one = score_one
from wirescore.cli import main
main(sys.argv[1:], prog_name="wirescore")
"""


def flow_facts(e: dict) -> tuple:
    f = e["flow"]
    return (e["src_ip"], e.get("src_port"), e["dest_ip"], e.get("dest_port"), e["proto"],
            f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"],
            f["bytes_toclient"], f["start"], f["end"], f["reason"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list:
    """Flow events of the capture run to its end with the same settings, no detection."""
    logdir = tmp_path_factory.mktemp("reference")
    run_wirescore("run", "-r", PCAP, "-l", logdir, "--no-detect", *FLAGS)
    return [e for e in read_eve(logdir) if e["event_type"] == "flow"]


def assert_everything_kept(events: list, reference: list) -> int:
    """Whole lines (read_eve), a final stats event, every packet read in a flow, every
    flow that ended before the stop as in the reference; returns the packets read."""
    assert events and events[-1]["event_type"] == "stats", "no final stats event"
    read = events[-1]["stats"]["decoder"]["pkts"]
    flows = [e for e in events if e["event_type"] == "flow"]
    assert sum(e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"] for e in flows) == read
    ended = [flow_facts(e) for e in flows if e["flow"]["reason"] != "shutdown"]
    assert ended, "no flow ended before the stop: the failure came too early to test"
    want = {flow_facts(e) for e in reference}
    missing = [f for f in ended if f not in want]
    assert not missing, missing[:3]
    return read


def one_line(proc) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirescore: error: "), proc.stderr
    return lines[0][len("wirescore: error: "):]


def breaking_run(tmp_path: Path, *args: str, calls: int = 300):
    script = tmp_path / "breaking_cli.py"
    script.write_text(BREAKING_CLI.replace("{calls}", str(calls)))
    (tmp_path / "p.yaml").write_text(PROFILE)
    return subprocess.run([sys.executable, str(script), *args, "run", "-r", str(PCAP),
                           "-l", str(tmp_path / "logs"), "--rules", str(tmp_path / "p.yaml"),
                           "--export", str(tmp_path / "flows.csv"), *FLAGS],
                          capture_output=True, text=True, timeout=300)


def test_a_failing_model_keeps_every_flow_and_names_the_profile(tmp_path, reference):
    proc = breaking_run(tmp_path)
    message = one_line(proc)
    assert message.startswith("profile 9999001 (model river:anomaly.HalfSpaceTrees): "
                              "ValueError: the model broke ("), message
    events = read_eve(tmp_path / "logs")
    read = assert_everything_kept(events, reference)
    assert 0 < read < 2011, f"{read} packets read: the run did not stop part-way"
    assert f"({read} packets before it, " in message
    # the export holds the same flows, each once (eve.json orders each batch's lines by
    # timestamp, the export keeps the order flows ended: tests/test_eve_order.py)
    with open(tmp_path / "flows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert Counter(int(r["flow_id"]) for r in rows) == \
        Counter(e["flow_id"] for e in events if e["event_type"] == "flow")
    assert len(rows) == len(set(int(r["flow_id"]) for r in rows))


def test_debug_prints_the_traceback_of_the_failure(tmp_path):
    proc = breaking_run(tmp_path, "--debug")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ValueError: the model broke" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "wirescore: error: profile 9999001 (model river:anomaly.HalfSpaceTrees): ")


class BreaksAfter:
    """A user's model (River's protocol) that raises after n scores."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def score_one(self, x) -> float:
        self.seen += 1
        if self.seen > self.n:
            raise ValueError("the model broke")
        return 0.0

    def learn_one(self, x) -> None:
        pass


def test_api_model_failure_is_a_run_fault_naming_the_profile(tmp_path, reference):
    (tmp_path / "p.yaml").write_text(PROFILE)
    profile = dataclasses.replace(load_file(tmp_path / "p.yaml")[0],
                                  model_object=BreaksAfter(300))
    got, cuts = [], []
    engine = Engine(Config.load(overrides=SETTINGS), tmp_path / "logs", profiles=[profile],
                    on_flow=lambda records, events: got.extend(events),
                    on_progress=lambda progress: cuts.append(len(got)))
    with pytest.raises(RunFault) as info:
        engine.run(str(PCAP))
    assert str(info.value) == "profile 9999001 (model BreaksAfter): ValueError: the model broke"
    assert isinstance(info.value.__cause__.__cause__, ValueError)
    events = read_eve(tmp_path / "logs")
    assert_everything_kept(events, reference)
    # on_flow's flows in the order they ended; eve.json's by start within each batch
    bounds = [0, *cuts, len(got)]
    assert [e for a, b in zip(bounds, bounds[1:])
            for e in sorted(got[a:b], key=lambda e: e["timestamp"])] == \
        [e for e in events if e["event_type"] == "flow"]
    assert info.value.summary.flows == len(got)


def test_a_failing_callback_is_named_and_eve_keeps_every_flow(tmp_path, reference):
    calls = []

    def on_flow(records, events):
        calls.append(len(records))
        if len(calls) == 3:
            raise RuntimeError("stop here")

    engine = Engine(Config.load(overrides=dict(SETTINGS, **{"detect.enabled": False})),
                    tmp_path / "logs", on_flow=on_flow)
    with pytest.raises(RunFault) as info:
        engine.run(str(PCAP))
    assert str(info.value) == "callback on_flow: RuntimeError: stop here"
    assert len(calls) == 3, "the failed callback was called again"
    read = assert_everything_kept(read_eve(tmp_path / "logs"), reference)
    assert read < 2011


def test_a_failing_progress_callback_is_named(tmp_path, reference):
    def on_progress(progress):
        if progress.packets >= 600:
            raise KeyError("progress")

    engine = Engine(Config.load(overrides=dict(SETTINGS, **{"detect.enabled": False})),
                    tmp_path / "logs", on_progress=on_progress)
    with pytest.raises(RunFault, match=r"^callback on_progress: KeyError: 'progress'$"):
        engine.run(str(PCAP))
    assert assert_everything_kept(read_eve(tmp_path / "logs"), reference) == 600


def test_an_export_that_fails_part_way_is_named_and_eve_keeps_every_flow(tmp_path,
                                                                        reference):
    export = tmp_path / "flows.csv"
    export.symlink_to("/dev/full")          # opens, then every write fails with ENOSPC
    proc = run_wirescore("run", "-r", PCAP, "-l", tmp_path / "logs", "--no-detect", *FLAGS,
                         "--export", export, check=False)
    message = one_line(proc)
    assert message.startswith(f"export {export}: No space left on device ("), message
    assert_everything_kept(read_eve(tmp_path / "logs"), reference)


def test_an_eve_file_that_fails_is_named_and_the_export_keeps_every_flow(tmp_path,
                                                                         reference):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "eve.json").symlink_to("/dev/full")
    proc = run_wirescore("run", "-r", PCAP, "-l", logdir, "--no-detect", *FLAGS,
                         "--export", tmp_path / "flows.csv", check=False)
    message = one_line(proc)
    assert message.startswith(f"EVE file {logdir / 'eve.json'}: cannot write EVE lines: "
                              "No space left on device ("), message
    read = int(message.split("(")[1].split()[0])
    with open(tmp_path / "flows.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    packets = [int(r["flow.pkts_toserver"]) + int(r["flow.pkts_toclient"]) for r in rows]
    assert sum(packets) == read, "a packet read is not in the export"
    # a flow ended before the stop is the reference's flow; one ended by the stop
    # (shutdown) has a prefix of its packets
    by_id = {e["flow_id"]: e for e in reference}
    whole = 0
    for row, n in zip(rows, packets):
        e = by_id[int(row["flow_id"])]
        assert row["start"] == e["flow"]["start"] and n <= e["flow"]["pkts_toserver"] + \
            e["flow"]["pkts_toclient"], (row["flow_id"], n)
        whole += (row["end"], n) == (e["flow"]["end"], e["flow"]["pkts_toserver"]
                                     + e["flow"]["pkts_toclient"])
    assert whole > 0
