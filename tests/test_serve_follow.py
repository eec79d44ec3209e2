"""EveFollower follows a real run's eve.json as it grows, across a partial last line,
rotation (wirescore's own size rotation, and logrotate's rename + SIGHUP reopen),
truncation in place (copytruncate), and a file that does not exist yet."""
from __future__ import annotations

import json
import os

from serve_support import SYNSCAN, append, real_run  # noqa: F401 (skips without the extra)

from conftest import read_eve, run_wirescore
from wirescore.serve.follow import EveFollower


def drain(follower: EveFollower) -> list[bytes]:
    out = []
    while True:
        lines = follower.poll()
        if not lines:
            return out
        out += lines


def test_reads_a_finished_run_then_what_is_appended(tmp_path):
    events = real_run(tmp_path)
    follower = EveFollower(tmp_path / "eve.json", read_bytes=64 << 10)
    lines = drain(follower)
    assert [json.loads(x) for x in lines] == events
    assert follower.bytes_read == (tmp_path / "eve.json").stat().st_size
    alert = next(x for x in lines if json.loads(x)["event_type"] == "alert")
    half = len(alert) // 2
    append(tmp_path / "eve.json", alert[:half])            # a writer mid-line
    assert follower.poll() == []
    append(tmp_path / "eve.json", alert[half:] + b"\n")
    assert follower.poll() == [alert]


def test_waits_for_a_file_that_is_not_there_yet(tmp_path):
    follower = EveFollower(tmp_path / "eve.json")
    assert follower.poll() == []
    append(tmp_path / "eve.json", b'{"event_type": "flow"}\n')
    assert follower.poll() == [b'{"event_type": "flow"}']


def test_rename_and_reopen_reads_the_old_file_to_its_end_then_the_new(tmp_path):
    events = real_run(tmp_path)
    eve = tmp_path / "eve.json"
    follower = EveFollower(eve)
    first = drain(follower)
    # logrotate: the writer still appends to the renamed file until SIGHUP reopens
    os.rename(eve, tmp_path / "eve.json.1")
    append(tmp_path / "eve.json.1", b'{"event_type": "late"}\n')
    append(eve, b'{"event_type": "after"}\n')
    rest = drain(follower)
    assert len(first) == len(events)
    assert rest == [b'{"event_type": "late"}', b'{"event_type": "after"}']
    assert follower.rotations == 1


def test_copytruncate_starts_again_at_the_beginning(tmp_path):
    real_run(tmp_path)
    eve = tmp_path / "eve.json"
    follower = EveFollower(eve)
    drain(follower)
    with open(eve, "r+b") as fh:
        fh.truncate(0)
    append(eve, b'{"event_type": "fresh"}\n')
    assert drain(follower) == [b'{"event_type": "fresh"}']
    assert follower.truncations == 1


def test_wirescore_size_rotation_loses_no_line(tmp_path):
    """A run rotating eve.json every 200 kB: the follower, polled between the run's
    rotations as a server would be, ends with every line of every file, in order."""
    logdir = tmp_path / "rot"
    run_wirescore("run", "-r", SYNSCAN, "-l", logdir, "--eve-rotate-size", "200000",
                  "--eve-rotate-keep", "50")
    files = sorted(logdir.glob("eve.json.*"), key=lambda p: -int(p.suffix[1:]))
    assert len(files) >= 3
    whole = b"".join(p.read_bytes() for p in files) + (logdir / "eve.json").read_bytes()
    # replay the rotation: the follower watches a path to which the files come in turn
    live = tmp_path / "live"
    live.mkdir()
    follower = EveFollower(live / "eve.json", read_bytes=32 << 10)
    seen = []
    for n, part in enumerate(files + [logdir / "eve.json"]):
        if n:
            os.rename(live / "eve.json", live / f"eve.json.{n}")
        append(live / "eve.json", part.read_bytes())
        seen += drain(follower)
    assert seen == [x for x in whole.split(b"\n") if x]
    assert follower.rotations == len(files)
    assert len(seen) == len(read_eve(logdir)) + sum(
        len(p.read_bytes().splitlines()) for p in files)
