"""Captures read with dpkt, and a capture played after the mix's benign training period.

An anomaly detector needs to have seen normal traffic first, so a labeled attack capture
is measured inside a stream: the benign training period of the public evaluation mix (its
packets before train_end_ts, the first 480 s: background only, no attack), then the
capture moved in time to start 1 s after it, then (optionally) more benign traffic moved
to start 1 s after the capture's last packet (so that flows still open age out as they
would on a live link). Times are epoch seconds, floats with microsecond resolution (what a
pcap holds).
"""
from __future__ import annotations

from pathlib import Path

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def read_frames(path: Path) -> tuple[int, list]:
    """(link type, [(ts, frame)]) of a pcap or pcapng file, read with dpkt."""
    import dpkt

    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if magic == PCAPNG_MAGIC else dpkt.pcap.Reader(fh)
        return reader.datalink(), [(float(ts), bytes(buf)) for ts, buf in reader]


def write_after_training(out: Path, link: int, background: list, frames: list,
                         train_end: float, tail: list = ()) -> float:
    """Write out (classic pcap, link type `link`): the background frames before
    train_end, then `frames` shifted to start at train_end + 1 s, then the `tail` frames
    shifted to start 1 s after the last of them (none: nothing after the attack). Returns
    the shift added to `frames` (seconds); an empty `frames` writes the background only."""
    import dpkt

    shift = train_end + 1 - frames[0][0] if frames else 0.0
    with open(out, "wb") as fh:
        writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=link)
        for ts, buf in background:
            if ts < train_end:
                writer.writepkt(buf, ts)
        for ts, buf in frames:
            writer.writepkt(buf, ts + shift)
        if tail and frames:
            tail_shift = max(ts for ts, _ in frames) + shift + 1 - tail[0][0]
            for ts, buf in tail:
                writer.writepkt(buf, ts + tail_shift)
    return shift
