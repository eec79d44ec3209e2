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


def test_file_set_follows_every_worker_file_and_time_rotated_names(tmp_path):
    """One run's EVE output in several files: eve.1.json, eve.2.json (--eve-per-worker)
    and names with strftime fields (--eve-rotate-interval), new ones as they appear;
    not the size-rotated eve.json.1 (read through the renamed file's descriptor)."""
    import wirescore.serve.follow as follow
    from wirescore.serve.follow import EveFileSet

    events = real_run(tmp_path / "run")
    lines = (tmp_path / "run" / "eve.json").read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "eve.1.json").write_bytes(b"".join(lines[:half]))
    (logs / "eve.2.json").write_bytes(b"".join(lines[half:]))
    (logs / "eve.json.1").write_bytes(lines[0])           # not ours to read again
    follow.RESCAN_S = 0.0
    files = EveFileSet(logs, "eve.json", read_bytes=64 << 10)
    got = drain(files)
    assert sorted(got) == sorted(x.rstrip(b"\n") for x in lines)
    assert files.files == ["eve.1.json", "eve.2.json"]
    append(logs / "eve.2.json", lines[0])
    assert files.poll() == [lines[0].rstrip(b"\n")]
    assert len(events) == len(lines)

    timed = EveFileSet(logs, "eve-%Y%m%d-%H%M.json")
    assert timed.poll() == []
    (logs / "eve-20261207-0500.json").write_bytes(b"".join(lines[:3]))
    assert drain(timed) == [x.rstrip(b"\n") for x in lines[:3]]
    (logs / "eve-20261207-0600.json").write_bytes(lines[3])
    assert drain(timed) == [lines[3].rstrip(b"\n")]
    assert timed.files == ["eve-20261207-0500.json", "eve-20261207-0600.json"]


def test_file_set_bounds_its_open_files(tmp_path, monkeypatch):
    import wirescore.serve.follow as follow
    from wirescore.serve.follow import EveFileSet

    monkeypatch.setattr(follow, "RESCAN_S", 0.0)
    monkeypatch.setattr(follow, "MAX_OPEN", 3)
    for hour in range(6):
        (tmp_path / f"eve-202612070{hour}00.json").write_bytes(
            json.dumps({"event_type": "stats", "hour": hour}).encode() + b"\n")
    files = EveFileSet(tmp_path, "eve-%Y%m%d%H%M.json")
    got = drain(files)
    assert sorted(json.loads(x)["hour"] for x in got) == list(range(6))
    assert len(files.files) <= 3
    assert drain(files) == []                  # closed files are not read again
