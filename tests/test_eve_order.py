"""eve.json follows packet time: within each batch the lines are ordered by timestamp.

On the public evaluation mix (window, attempt, update, app-layer and flow alerts, app
events and flows in the same batches) a run writes each batch's lines with
non-decreasing timestamps, the same lines as a run whose batches are written in stage
order (what the engine wrote before ordering), and keeps the lines of the batch at hand
when a callback stops the run.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, need_shared
from wirescore.config import Config
from wirescore.engine import Engine, RunFault
from wirescore.outputs import eve_order, sinks
from wirescore.outputs.eve import EveWriter, _dumps

sys.path.insert(0, str(REPO / "tests" / "golden"))
import make_golden  # noqa: E402

MIX = "eval/mix-public.pcap"


def batched_run(path: Path, log_dir: Path, monkeypatch, **callbacks) -> list[list[bytes]]:
    """Run `path` with the shipped profiles; eve.json's lines cut at every end of batch
    (the file's size once the EVE sink's batch is written)."""
    sizes = []
    end_batch = sinks.EveSink.end_batch

    def measured(self):
        end_batch(self)
        self.writer.wait()
        sizes.append(os.path.getsize(self.eve.path))

    monkeypatch.setattr(sinks.EveSink, "end_batch", measured)
    Engine(Config.load(), log_dir, **callbacks).run(str(path))
    data = (log_dir / "eve.json").read_bytes()
    cuts = [0, *sizes, len(data)]
    return [data[a:b].splitlines() for a, b in zip(cuts, cuts[1:])]


def events_of(lines: list[bytes]) -> list[dict]:
    """The events of lines, stats events left out (they follow their batch)."""
    return [e for e in map(json.loads, lines) if e["event_type"] != "stats"]


def out_of_order(batches: list[list[bytes]]) -> list[tuple]:
    """(batch, line, timestamp before, timestamp) where a timestamp goes back in a batch
    (the fixed-width UTC text compares as the time it names)."""
    found = []
    for n, lines in enumerate(batches):
        stamps = [e["timestamp"] for e in events_of(lines)]
        found += [(n, i, a, b) for i, (a, b) in enumerate(zip(stamps, stamps[1:])) if b < a]
    return found


@pytest.fixture(scope="module")
def mix() -> Path:
    return need_shared() / MIX


def test_each_batch_is_written_in_timestamp_order_and_no_line_changes(mix, tmp_path,
                                                                      monkeypatch):
    batches = batched_run(mix, tmp_path / "ordered", monkeypatch)
    assert len(batches) > 10
    assert out_of_order(batches) == []
    # stage order (before this rule): the same run with each batch written as it came
    monkeypatch.setattr(eve_order, "write_ordered",
                        lambda eve, blocks, stamps: eve.write_bytes(b"".join(blocks)))
    staged = batched_run(mix, tmp_path / "staged", monkeypatch)
    wrong = out_of_order(staged)
    assert len({n for n, *_ in wrong}) > 1, "the stages of the mix never interleave"
    assert [Counter(b) for b in batches] == [Counter(b) for b in staged]
    assert sum(map(len, batches)) == sum(map(len, staged))
    golden = json.loads(make_golden.GOLDEN.read_text())[MIX]["events"]
    every = [e["event_type"] for b in batches for e in map(json.loads, b)]
    assert Counter(every) == golden


def test_alert_lines_are_the_alerts_handed_to_on_alert(mix, tmp_path, monkeypatch):
    alerts = []
    batches = batched_run(mix, tmp_path / "logs", monkeypatch, on_alert=alerts.append)
    written = [line for b in batches for line in b if b'"event_type":"alert"' in line]
    assert len(written) == len(alerts) > 100
    assert Counter(written) == Counter(_dumps(e).encode() for e in alerts)


def test_a_run_stopped_by_a_callback_still_writes_the_batch_at_hand(mix, tmp_path,
                                                                    monkeypatch):
    handed = []

    def on_app(kind, records, events):
        handed.append((kind, events))
        if kind == "dns" and sum(k == "dns" for k, _ in handed) == 5:
            raise RuntimeError("stop here")

    with pytest.raises(RunFault, match="callback on_app: RuntimeError: stop here"):
        batched_run(mix, tmp_path / "logs", monkeypatch, on_app=on_app)
    lines = set((tmp_path / "logs" / "eve.json").read_bytes().splitlines())
    last = handed[-1][1]
    assert last and all(_dumps(e).encode() in lines for e in last)


def written(tmp_path, blocks, stamps) -> bytes:
    """What write_ordered puts in a new EVE file."""
    path = tmp_path / "eve.json"
    path.unlink(missing_ok=True)
    eve = EveWriter(path)
    try:
        eve_order.write_ordered(eve, blocks, stamps)
    finally:
        eve.close()
    return path.read_bytes()


def test_write_ordered_is_stable_and_keeps_sorted_blocks_as_they_are(tmp_path):
    blocks = [b"a5\nb7\n", b"c5\nd1\nE5\n", b"f7\n"]
    stamps = [np.array([5, 7]), np.array([5, 1, 5]), np.array([7])]
    assert written(tmp_path, blocks, stamps) == b"d1\na5\nc5\nE5\nb7\nf7\n"
    calm = [b"x1\ny1\n", b"z2\n"]
    assert written(tmp_path, calm, [np.array([1, 1]), np.array([2])]) == b"x1\ny1\nz2\n"
    assert written(tmp_path, [b"q9\n"], [np.array([9])]) == b"q9\n"
    assert written(tmp_path, [b"", b"r1\n"], [np.array([], int), np.array([1])]) == b"r1\n"


def test_write_ordered_matches_a_stable_sort_over_many_writev_batches(tmp_path):
    # 20,000 lines of varying length in 7 blocks, keys with many ties: far more pieces
    # than one writev() takes (IOV_BATCH), runs of neighbours merged into one piece
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 300, 20_000)
    keys[5_000:9_000].sort()                        # a long run already in order
    lines = [b"%d:%d:%s\n" % (k, i, b"x" * int(rng.integers(0, 90)))
             for i, k in enumerate(keys)]
    cuts = [0, 1, 4_000, 4_001, 9_000, 15_000, 19_999, 20_000]
    blocks = [b"".join(lines[a:b]) for a, b in zip(cuts, cuts[1:])]
    stamps = [keys[a:b] for a, b in zip(cuts, cuts[1:])]
    want = b"".join(lines[i] for i in sorted(range(len(lines)), key=lambda i: keys[i]))
    assert written(tmp_path, blocks, stamps) == want


def test_write_ordered_refuses_lines_that_disagree_with_their_stamps(tmp_path):
    with pytest.raises(ValueError, match="disagree"):
        written(tmp_path, [b"a1\nb2\n"], [np.array([1, 2, 3])])
    with pytest.raises(ValueError, match="disagree"):
        written(tmp_path, [b"a1\nb2\n", b"c3\n"], [np.array([3, 1])])
    with pytest.raises(ValueError, match="newline"):
        written(tmp_path, [b"a1\nb2"], [np.array([1, 2])])
    assert (tmp_path / "eve.json").read_bytes() == b""      # nothing half written


def test_write_ordered_names_a_failed_write(tmp_path):
    eve = EveWriter(tmp_path / "eve.json")
    eve.close()
    eve._fd = os.open(tmp_path / "eve.json", os.O_RDONLY)  # write() fails: EBADF
    try:
        with pytest.raises(OSError, match="cannot write EVE lines"):
            eve_order.write_ordered(eve, [b"b2\na1\n"], [np.array([2, 1])])
    finally:
        eve.close()
