"""Coverage-guided fuzz target for the compiled core: decoder, flow table, EVE formatter.

One fuzz input is a small capture in its own format (below). run_one(data) plays it
through the core the way the engine does and checks the core's own contract; any
violation raises FuzzFailure, any memory error is caught by AddressSanitizer when the
core was built with it (tests/fuzz/run.py builds and launches that; see README.md).

    byte 0      link type: LINKTYPES[b % len(LINKTYPES)]
    byte 1      flags: bit0 tcp_close; bit1 one frame per feed() call (each frame in its
                own exact-size buffer); bit2 expire() between feed() calls; bit3 bad meta
                rows (offset/caplen outside the data); bit4 record buffer at its minimum
                (64, else 256) so feed() returns early and drain() runs often; bit5 play the frames
                three times (flows end, restart, get evicted); bit6 alerted flags on
                the EVE lines; bit7 batches of 5 rows (else two batches)
    byte 2      timeouts: bits0-1 idle timeout profile, bits2-3 active timeout; bits4-5
                traffic window length (off, 1 s, 1 ms, 60 s), bits6-7 its keys
    byte 3      table sizes: bits0-2 max_flows, bits3-4 fragment slots; bits 5 and 6 both
                set: endpoint context tables on (FlowMeter(context=True); they cost 22 MB
                a meter, which ASAN makes slow to allocate, hence a quarter of inputs);
                bit7 the packet ring at its smallest (64 KiB), and with flag bit5 the
                frames are played often enough (up to 32 times) to wrap it
    then records, until the input ends:
                1 byte time step (see _step), 2 bytes frame length (little-endian),
                the frame (cut short by the end of the input)

Each input goes through:
- decode_one() on each of the first DECODE_ONE_FRAMES frames, in an exact-size buffer
  (so a read one byte past the frame is a heap overflow under ASAN);
- FlowMeter.feed()/drain()/expire()/shutdown() over all frames, as the engine calls them;
- format_flows() on every drained record, and the Python formatter on the same records.

Checks (each a line of the core's documented contract):
- every packet lands in exactly one bucket: decoder.pkts = decoded IP + non-IP + invalid,
  and decoder.pkts = rows fed; decode_one() counts each frame in exactly one of them;
- no packet is lost: packets summed over the flow records = decoded IP packets;
- one record per flow: records = flow.total; no live flow after shutdown;
- each record is sane (first packet toserver, end >= start, enum values in range) and
  the end-reason and end-state counters equal the records' reasons and states;
- traffic windows (when on): every IP packet in one window per key kind or counted as
  dropped; records on the window grid, ratios in [0, 1], distinct counts and entropy in
  range;
- the packet ring (when on): an in-order run of the frames fed, byte for byte, within
  its size; all IP frames while it never wrapped; ring_flow() frames among them;
- format_flows() writes one whole JSON line per record, byte-identical to the Python
  FlowEventFormatter (wirescore.outputs.eve) on the same records (the first PY_COMPARE).
With WIRESCORE_FUZZ_DIFF=1, each decoded frame is also compared with the independent
reference decoder tests/flowref.py (result, version, protocol, addresses, ports, VLANs,
wire length); see _differential for the rules the reference does not model.

The module imports no atheris at import time, so the regression tests
(tests/test_fuzz_regressions.py) replay inputs through run_one() with the installed build.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


def _use_fuzz_build() -> None:
    """Load wirescore._core from WIRESCORE_FUZZ_LIB (an ASAN/debug build) if set."""
    lib = os.environ.get("WIRESCORE_FUZZ_LIB")
    if not lib:
        return
    import wirescore._core as core_pkg

    core_dir = Path(lib) / "wirescore" / "_core"
    if not core_dir.is_dir():
        raise SystemExit(f"WIRESCORE_FUZZ_LIB={lib}: no wirescore/_core in it (run "
                         f"tests/fuzz/run.py build)")
    core_pkg.__path__.insert(0, str(core_dir))


_use_fuzz_build()

import numpy as np  # noqa: E402

from wirescore._core import decode as _decode  # noqa: E402
from wirescore._core import eve as _eve  # noqa: E402
from wirescore._core import flowtable as _ft  # noqa: E402

# the link types of the contract (README "Decoding"), plus 14 (RAW, OpenBSD)
LINKTYPES = (1, 113, 276, 12, 101, 228, 229, 0, 108, 239, 9, 50, 104, 14)
MAX_FRAMES = 600                  # frames per input read (the input's 8 KB bounds it anyway)
DECODE_ONE_FRAMES = 2             # frames also run through decode_one() in their own buffer
                                  # (each call allocates 512 KB; flag bit1 puts every frame
                                  # in its own buffer for feed() as well)
PY_COMPARE = 24                   # records also formatted by the Python formatter
T0 = 1_600_000_000                # seconds: where every input's clock starts

TIMEOUT_PROFILES = (
    None,                                               # the defaults (Suricata's)
    (1.0,) * 9,
    (0.000001,) * 9,                                    # the smallest a setting allows
    (0.5, 3.0, 0.2, 1.0, 2.0, 0.7, 4.0, 0.1, 5.0),
)
ACTIVE_TIMEOUTS = (1800.0, 10.0, 0.5, 0.000001)
MAX_FLOWS = (1, 2, 3, 4, 7, 16, 64, 512)
FRAG_SLOTS = (1, 2, 16, 1024)

NAMES = _ft.COUNTER_NAMES
try:                                  # the endpoint context switch (core 32e9a74 on)
    _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, context=False)
    HAS_CONTEXT = True
except TypeError:
    HAS_CONTEXT = False
try:                                  # traffic windows (core 2cedb52 on)
    _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, window_seconds=1.0,
                  window_keys=("all",), **({"context": False} if HAS_CONTEXT else {}))
    HAS_WINDOWS = True
except TypeError:
    HAS_WINDOWS = False
try:                                  # the packet ring (core c36068a on)
    _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, ring_bytes=65536,
                  **({"context": False} if HAS_CONTEXT else {}))
    HAS_RING = True
except TypeError:
    HAS_RING = False
RING_BYTES = 65536
WINDOW_SECONDS = (0.0, 1.0, 0.001, 60.0)
WINDOW_KEYS = (("all",), ("src", "dst"), ("all", "src", "dst"), ("dst",))
IX = {name: i for i, name in enumerate(NAMES)}
RECORD_DTYPE = _ft.RECORD_DTYPE
# record.reason -> the end counter it is counted in (forced: only when not closed, in
# flow.wrk.flows_evicted, which also counts evicted closed flows reported as tcp_fin/rst)
REASON_COUNTERS = {1: "flow.mgr.flows_timeout", 2: "wirescore.flow_active_timeout",
                   3: "wirescore.flow_tcp_fin", 4: "wirescore.flow_tcp_rst",
                   6: "wirescore.flow_shutdown"}
STATE_COUNTERS = {0: "flow.end.state.new", 1: "flow.end.state.established",
                  2: "flow.end.state.closed"}


class FuzzFailure(AssertionError):
    """The core broke its contract on this input."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise FuzzFailure(what)


# ---- the input format ----------------------------------------------------------------------

def _step(code: int, sec: int, usec: int) -> tuple[int, int]:
    """Next (sec, usec) after a time-step code; usec may be >= 1e6 (code 250) as a
    damaged pcap record can carry, sec wraps within 32 bits like the pcap field."""
    if code < 100:
        usec += code * 1000
    elif code < 160:
        sec += code - 100
    elif code < 200:
        sec += (code - 160) * 30
    elif code < 230:
        sec -= code - 199                                # backwards
    elif code < 250:
        sec += (code - 229) * 3600
    elif code == 250:
        usec = 1_000_000 + (usec % 1_000_000) * 4000     # not normalised, up to ~4.3e9
        return sec & 0xFFFFFFFF, min(usec, 0xFFFFFFFF)
    elif code == 251:
        return 0, 0
    elif code == 252:
        return 0xFFFFFFFF, 999_999
    sec += usec // 1_000_000
    usec %= 1_000_000
    return sec & 0xFFFFFFFF, usec


def parse(data: bytes):
    """(linktype, flags, tsel, msel, [(sec, usec, frame)]) or None when too short."""
    if len(data) < 4:
        return None
    linktype = LINKTYPES[data[0] % len(LINKTYPES)]
    flags, tsel, msel = data[1], data[2], data[3]
    frames = []
    pos, sec, usec = 4, T0, 0
    while pos + 3 <= len(data) and len(frames) < MAX_FRAMES:
        code = data[pos]
        length = data[pos + 1] | (data[pos + 2] << 8)
        pos += 3
        frame = data[pos:pos + length]
        pos += len(frame)
        sec, usec = _step(code, sec, usec)
        frames.append((sec, usec, frame))
    return linktype, flags, tsel, msel, frames


def build(linktype: int, flags: int, tsel: int, msel: int, frames) -> bytes:
    """The inverse of parse(): an input from its parts (for seeds and regressions).

    frames: [(time step code, frame bytes)]."""
    out = bytearray([LINKTYPES.index(linktype), flags & 0xFF, tsel & 0xFF, msel & 0xFF])
    for code, frame in frames:
        frame = bytes(frame)[:0xFFFF]
        out += bytes([code & 0xFF, len(frame) & 0xFF, len(frame) >> 8]) + frame
    return bytes(out)


# ---- one input through the core -------------------------------------------------------------

def _exact(buf: bytes) -> np.ndarray:
    """A copy of buf in a buffer of exactly len(buf) bytes (numpy's data allocation):
    reading one byte past it is a heap-buffer-overflow under ASAN. (A bytes object has a
    trailing NUL and, without PYTHONMALLOC=malloc, lives in pymalloc arenas.)"""
    return np.frombuffer(buf, dtype=np.uint8).copy()


def _decode_frames(linktype, frames, diff: bool):
    """decode_one() on the first frames; returns (ip, nonip, error) counts."""
    totals = {"ip": 0, "nonip": 0, "error": 0}
    for n, (_s, _u, frame) in enumerate(frames[:DECODE_ONE_FRAMES]):
        result, fields, counters = _decode.decode_one(_exact(frame), linktype)
        check(result in totals, f"frame {n}: decode_one result {result!r}")
        totals[result] += 1
        buckets = (int(counters[IX["wirescore.decoded_ip"]]), int(counters[IX["wirescore.nonip"]]),
                   int(counters[IX["decoder.invalid"]]))
        want = {"ip": (1, 0, 0), "nonip": (0, 1, 0), "error": (0, 0, 1)}[result]
        check(int(counters[IX["decoder.pkts"]]) == 1 and buckets == want,
              f"frame {n}: decode_one says {result} but counts (ip, nonip, invalid) = "
              f"{buckets}, pkts {int(counters[IX['decoder.pkts']])}")
        if result == "ip":
            check(fields["ipver"] in (4, 6), f"frame {n}: IP packet of version {fields['ipver']}")
            check(len(fields["vlan"]) <= 2, f"frame {n}: {len(fields['vlan'])} VLAN ids")
            check(fields["wire_len"] >= len(frame), f"frame {n}: wire_len {fields['wire_len']} "
                  f"< captured {len(frame)}")
            if not fields["has_ports"]:
                check(fields["sport"] == 0 and fields["dport"] == 0,
                      f"frame {n}: ports without has_ports")
        if diff:
            _differential(linktype, frame, result, fields, n)
    return totals


def _rows(frames, data_len_hint=0):
    """Meta rows (sec, usec, offset, caplen) for frames laid end to end."""
    rows = np.empty((len(frames), 4), dtype=np.uint32)
    off = 0
    for i, (sec, usec, frame) in enumerate(frames):
        rows[i] = (sec, usec, off, len(frame))
        off += len(frame)
    return rows


BAD_ROWS = ((0xFFFFFFFF, 0), (0, 0xFFFFFFFF), (1, 0xFFFFFFFF), (0xFFFFFFF0, 0x20),
            (0x7FFFFFFF, 0x7FFFFFFF))


def _drain(meter, records: list, windows: list | None) -> int:
    """drain() (and drain_windows()); returns how many records came out."""
    got = meter.drain()
    records.append(got)
    n = len(got)
    if windows is not None:
        w = meter.drain_windows()
        windows.append(w)
        n += len(w)
    return n


def _feed_all(meter, data: np.ndarray, rows: np.ndarray, records: list,
              windows: list | None = None) -> None:
    i, n = 0, rows.shape[0]
    while i < n:
        nxt = meter.feed(data, rows, i)
        check(i <= nxt <= n, f"feed() returned {nxt} for start {i} of {n} rows")
        if nxt == i:
            check(_drain(meter, records, windows) > 0,
                  f"feed() made no progress at row {i} with empty buffers")
            continue
        i = nxt
        _drain(meter, records, windows)


def run_one(data: bytes, diff: bool = False) -> dict:
    """Play one fuzz input through the core and check the contract; returns a summary."""
    parsed = parse(data)
    if parsed is None:
        return {}
    linktype, flags, tsel, msel, frames = parsed
    ring = HAS_RING and bool(msel & 0x80)
    if flags & 0x20 and frames:
        # more plays of the same frames, each later on the clock
        last = frames[-1][0]
        more = []
        plays = 3
        if ring:                          # enough plays to wrap the ring about twice
            plays = min(32, max(3, 2 * RING_BYTES // max(1, sum(len(f) for *_x, f in frames))))
        for k in range(1, plays):
            for sec, usec, frame in frames:
                more.append(((sec + k * (last - T0 + 7)) & 0xFFFFFFFF, usec, frame))
        frames = frames + more

    decoded = _decode_frames(linktype, frames, diff)

    options = dict(max_flows=MAX_FLOWS[msel & 7], timeouts=TIMEOUT_PROFILES[tsel & 3],
                   active_timeout=ACTIVE_TIMEOUTS[(tsel >> 2) & 3], tcp_close=bool(flags & 1),
                   out_capacity=64 if flags & 0x10 else 256,
                   frag_slots=FRAG_SLOTS[(msel >> 3) & 3])
    if HAS_CONTEXT:
        options["context"] = (msel & 0x60) == 0x60
    win_seconds = WINDOW_SECONDS[(tsel >> 4) & 3] if HAS_WINDOWS else 0.0
    windows: list | None = None
    if win_seconds:
        options["window_seconds"] = win_seconds
        options["window_keys"] = WINDOW_KEYS[tsel >> 6]
        windows = []
    if ring:
        options["ring_bytes"] = RING_BYTES
    meter = _ft.FlowMeter(linktype, **options)
    records: list = []
    fed = 0
    if flags & 2:                                   # each frame in its own batch and buffer
        for sec, usec, frame in frames:
            rows = np.array([[sec, usec, 0, len(frame)]], dtype=np.uint32)
            _feed_all(meter, _exact(frame), rows, records, windows)
            fed += 1
            if flags & 4:
                check(meter.expire(sec + usec / 1e6) in (True, False), "expire() result")
                records.append(meter.drain())
    else:
        blob = b"".join(f for _s, _u, f in frames)
        rows = _rows(frames)
        if flags & 8:
            last = (int(rows[-1, 0]), int(rows[-1, 1])) if len(rows) else (T0, 0)
            bad = np.array([[last[0], last[1], off, cap] for off, cap in BAD_ROWS],
                           dtype=np.uint32)
            rows = np.concatenate([rows[: len(rows) // 2], bad, rows[len(rows) // 2:]])
        data_buf = _exact(blob)
        step = 5 if flags & 0x80 else max(1, (rows.shape[0] + 1) // 2)
        for start in range(0, rows.shape[0], step):  # as successive next_batch() results
            part = rows[start:start + step]
            part = np.ascontiguousarray(part)
            _feed_all(meter, data_buf, part, records, windows)
            fed += part.shape[0]
            if flags & 4 and part.shape[0]:
                while not meter.expire(float(part[-1, 0]) + 1.0):
                    records.append(meter.drain())
                records.append(meter.drain())
    # the engine's shutdown loop
    while meter.shutdown():
        records.append(meter.drain())
    records.append(meter.drain())
    if windows is not None:
        meter.close_window()
        windows.append(meter.drain_windows())
    check(meter.active_flows == 0, f"{meter.active_flows} flows live after shutdown")

    records = [r for r in records if len(r)]
    if len(records) > 1:
        recs = np.concatenate(records)
    else:
        recs = records[0] if records else np.empty(0, dtype=RECORD_DTYPE)
    cnt = meter.counters
    _check_counters(cnt, recs, fed, decoded, flags, frames)
    _check_records(recs)
    _check_eve(recs, flags)
    if windows is not None:
        _check_windows(windows, cnt, options["window_keys"], win_seconds)
    if ring:
        _check_ring(meter, frames, recs, int(cnt[IX["wirescore.decoded_ip"]]))
    return {"linktype": linktype, "frames": len(frames), "flows": len(recs),
            "decoded_ip": int(cnt[IX["wirescore.decoded_ip"]])}


def _check_counters(cnt, recs, fed, decoded, flags, frames) -> None:
    c = {name: int(cnt[i]) for i, name in enumerate(NAMES)}
    pkts, ip, nonip, bad = (c["decoder.pkts"], c["wirescore.decoded_ip"], c["wirescore.nonip"],
                            c["decoder.invalid"])
    check(pkts == fed, f"decoder.pkts {pkts} but {fed} rows fed")
    check(pkts == ip + nonip + bad, f"pkts {pkts} != ip {ip} + nonip {nonip} + invalid {bad}")
    if len(frames) <= DECODE_ONE_FRAMES:                # decode_one saw every frame once
        check((ip, nonip, bad - c["capture.errors"]) ==
              (decoded["ip"], decoded["nonip"], decoded["error"]),
              f"feed counted (ip, nonip, error) = ({ip}, {nonip}, "
              f"{bad - c['capture.errors']}), decode_one {decoded}")
    in_flows = int(recs["pkts_toserver"].sum() + recs["pkts_toclient"].sum()) if len(recs) else 0
    check(in_flows == ip, f"{in_flows} packets in flow records, {ip} decoded IP packets")
    check(len(recs) == c["flow.total"], f"{len(recs)} records, flow.total {c['flow.total']}")
    reasons = np.bincount(recs["reason"], minlength=8) if len(recs) else np.zeros(8, int)
    for reason, name in REASON_COUNTERS.items():
        check(int(reasons[reason]) == c[name],
              f"{int(reasons[reason])} records with reason {reason}, counter {name} {c[name]}")
    check(int(reasons[5]) <= c["flow.wrk.flows_evicted"],
          f"{int(reasons[5])} forced records, flows_evicted {c['flow.wrk.flows_evicted']}")
    states = np.bincount(recs["state"], minlength=4) if len(recs) else np.zeros(4, int)
    for state, name in STATE_COUNTERS.items():
        check(int(states[state]) == c[name],
              f"{int(states[state])} records in state {state}, counter {name} {c[name]}")
    check(c["flow.total"] == c["flow.tcp"] + c["flow.udp"] + c["flow.icmpv4"] +
          c["flow.icmpv6"] + c["wirescore.flow_other"], "flow.total != sum of flows by protocol")


def _check_records(recs) -> None:
    if not len(recs):
        return
    bad = {
        "pkts_toserver 0": recs["pkts_toserver"] < 1,
        "end before start": recs["end_us"] < recs["start_us"],
        "reason out of range": (recs["reason"] < 1) | (recs["reason"] > 6),
        "state out of range": (recs["state"] > 2) | (recs["tcp_state"] > 5),
        "ip_version not 4 or 6": (recs["ip_version"] != 4) & (recs["ip_version"] != 6),
        "more than 2 VLAN ids": recs["nvlan"] > 2,
        "fewer than 20 bytes a packet": (recs["bytes_toserver"] < 20 * recs["pkts_toserver"]) |
                                        (recs["bytes_toclient"] < 20 * recs["pkts_toclient"]),
        "negative duration": recs["duration"] < 0,
    }
    for what, mask in bad.items():
        if mask.any():
            n = int(np.flatnonzero(mask)[0])
            r = recs[n]
            raise FuzzFailure(f"record {n} (proto {int(r['proto'])}, reason {int(r['reason'])}, "
                              f"state {int(r['state'])}): {what}")


def _check_windows(windows: list, cnt, keys, seconds: float) -> None:
    """Window records: every IP packet in exactly one window of each key kind (or counted
    as dropped), and each record's values in range."""
    windows = [w for w in windows if len(w)]
    w = np.concatenate(windows) if len(windows) > 1 else \
        (windows[0] if windows else np.empty(0, dtype=_ft.WINDOW_DTYPE))
    ip = int(cnt[IX["wirescore.decoded_ip"]])
    dropped = int(cnt[IX["wirescore.window_keys_dropped"]])
    kinds = {"all": 0, "src": 1, "dst": 2}
    summed = sum(int(w["packets"][w["kind"] == kinds[k]].sum()) for k in keys)
    check(summed + dropped == ip * len(keys),
          f"window records hold {summed} packets (+{dropped} dropped) for {ip} IP packets "
          f"and keys {keys}")
    if "all" in keys and ip:
        check(int(w["packets"][w["kind"] == 0].sum()) == ip, "the 'all' window lost packets")
    if not len(w):
        return
    length = int(seconds * 1e6)
    bad = {
        "no packet": w["packets"] < 1,
        "length": (w["end_us"] - w["start_us"]) != length,
        "start not on the window grid": w["start_us"] % length != 0,
        "kind": ~np.isin(w["kind"], [kinds[k] for k in keys]),
        "ratio outside [0, 1]": np.zeros(len(w), bool),
        "distinct count": np.zeros(len(w), bool),
        "entropy": ~((w["dport_entropy"] >= 0) & (w["dport_entropy"] <= 5.0 + 1e-9)),
    }
    for name in ("syn_ratio", "synack_ratio", "rst_ratio", "fin_ratio", "unreach_ratio",
                 "tcp_ratio", "udp_ratio", "icmp_ratio"):
        bad["ratio outside [0, 1]"] |= ~((w[name] >= 0) & (w[name] <= 1))
    for name in ("distinct_dsts", "distinct_dports", "distinct_srcs"):
        bad["distinct count"] |= ~((w[name] >= 0) & (w[name] <= 256 * np.log(256) + 1e-6))
    for what, mask in bad.items():
        if mask.any():
            n = int(np.flatnonzero(mask)[0])
            raise FuzzFailure(f"window record {n} (kind {int(w['kind'][n])}): {what}: "
                              f"{w[n]}")


def _check_ring(meter, frames, recs, ip: int) -> None:
    """The packet ring holds, oldest first, a run of the frames fed (same bytes, times),
    within its bytes and slots; every IP frame while nothing had to be dropped; a
    flow's frames (ring_flow) are among them."""
    data, meta = meter.ring_between(0.0, float(1 << 34))
    caplens = meta[:, 2].astype(np.int64) if len(meta) else np.zeros(0, np.int64)
    check(len(data) == int(caplens.sum()), "ring_between(): bytes and caplens disagree")
    check(len(data) <= RING_BYTES and len(meta) <= RING_BYTES // 64,
          f"ring holds {len(meta)} frames, {len(data)} bytes")
    check(len(meta) <= ip, f"ring holds {len(meta)} frames of {ip} IP packets")
    if ip and any(len(f) for _s, _u, f in frames):
        check(len(meta) >= 1, "empty ring after IP packets")
    if sum(len(f) for _s, _u, f in frames) <= RING_BYTES and ip <= RING_BYTES // 64:
        check(len(meta) == ip, f"ring lost frames: {len(meta)} of {ip} without any wrap")
    # a subsequence of the frames fed, in order
    fed = [(sec * 1_000_000 + usec, f) for sec, usec, f in frames]
    k, pos = 0, 0
    for n in range(len(meta)):
        ts = int(meta[n, 0]) * 1_000_000 + int(meta[n, 1])
        frame = data[pos:pos + int(meta[n, 2])]
        pos += int(meta[n, 2])
        check(int(meta[n, 3]) >= len(frame), f"ring frame {n}: wire_len < caplen")
        while k < len(fed) and fed[k] != (ts, frame):
            k += 1
        check(k < len(fed), f"ring frame {n} ({len(frame)} bytes at {ts}) is not a frame "
              f"fed, in order: {frame[:40].hex()}")
        k += 1
    ring_frames = {(int(meta[n, 0]), int(meta[n, 1]), int(meta[n, 2])) for n in range(len(meta))}
    for r in recs[:8]:
        fdata, fmeta = meter.ring_flow(int(r["flow_id"]))
        check(len(fdata) == int(fmeta[:, 2].sum()) if len(fmeta) else len(fdata) == 0,
              "ring_flow(): bytes and caplens disagree")
        for n in range(len(fmeta)):
            check((int(fmeta[n, 0]), int(fmeta[n, 1]), int(fmeta[n, 2])) in ring_frames,
                  f"ring_flow({int(r['flow_id'])}) frame {n} not in the ring")


_PY_FORMATTER = None


def _check_eve(recs, flags) -> None:
    global _PY_FORMATTER
    from wirescore.outputs.eve import FlowEventFormatter, _dumps

    recs = np.ascontiguousarray(recs)
    alerted = None
    if flags & 0x40 and len(recs):
        alerted = (np.arange(len(recs)) % 3 == 0)
    out = _eve.format_flows(recs, alerted=alerted)
    check(isinstance(out, bytes), "format_flows did not return bytes")
    check(out == b"" or out.endswith(b"\n"), "EVE output does not end with a newline")
    lines = out.split(b"\n")[:-1] if out else []
    check(len(lines) == len(recs), f"{len(lines)} EVE lines for {len(recs)} records")
    for n, line in enumerate(lines):
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise FuzzFailure(f"EVE line {n} is not JSON ({exc}): {line[:300]!r}") from None
        check(event.get("event_type") == "flow", f"EVE line {n}: event_type")
    if _PY_FORMATTER is None:
        _PY_FORMATTER = FlowEventFormatter()
    # the Python formatter on the first PY_COMPARE records (it is the slow part)
    k = min(len(recs), PY_COMPARE)
    py = "".join(_dumps(ev) + "\n" for ev in _PY_FORMATTER.events(
        recs[:k], None if alerted is None else alerted[:k])).encode()
    c_part = b"".join(line + b"\n" for line in lines[:k])
    if py != c_part:
        for n, (a, b) in enumerate(zip(c_part.split(b"\n"), py.split(b"\n"))):
            if a != b:
                raise FuzzFailure(f"C and Python EVE lines differ at record {n}:\n  C:  {a!r}\n"
                                  f"  Py: {b!r}")
        raise FuzzFailure("C and Python EVE output differ in length")


# ---- differential decoding against tests/flowref.py -----------------------------------------

_flowref = None


def _differential(linktype, frame: bytes, result: str, fields: dict, n: int) -> None:
    """Compare decode_one() with the reference decoder on one frame.

    Left out, because the reference does not model them (the core's README does):
    IPv6 jumbograms (payload length 0 behind a hop-by-hop header); ICMP over IPv6 and
    ICMPv6 over IPv4, which the README makes port-less flows without the 4-byte ICMP
    check while tests/flowref.py applies that check whatever the IP version."""
    global _flowref
    if _flowref is None:
        sys.path.insert(0, str(TESTS))
        import flowref as _flowref_mod
        _flowref = _flowref_mod
    import ipaddress
    try:
        pkt = _flowref.decode_frame(linktype, bytes(frame), "<")
        want = "ip"
    except _flowref.DecodeError:
        pkt, want = None, "error"
    except _flowref.NotIP:
        pkt, want = None, "nonip"
    if _is_jumbogram(linktype, frame) or _cross_icmp(linktype, frame):
        return
    for name in os.environ.get("WIRESCORE_FUZZ_DIFF_SKIP", "").split(","):
        if name and KNOWN_DIFFERENCES[name](pkt):
            return
    check(want == result, f"frame {n} (link type {linktype}): core says {result}, reference "
          f"says {want}: {bytes(frame)[:80].hex()}")
    if pkt is None:
        return
    alen = 4 if pkt.version == 4 else 16
    got = (fields["ipver"], fields["proto"], str(ipaddress.ip_address(fields["src"][:alen])),
           str(ipaddress.ip_address(fields["dst"][:alen])), tuple(fields["vlan"]),
           fields["wire_len"])
    exp = (pkt.version, pkt.proto, pkt.src, pkt.dst, tuple(pkt.vlan), pkt.wire_len)
    check(got == exp, f"frame {n} (link type {linktype}): core {got}, reference {exp}: "
          f"{bytes(frame)[:80].hex()}")
    if pkt.frag_offset == 0 and pkt.proto in (6, 17, 132):
        check((fields["sport"], fields["dport"]) == (pkt.sport, pkt.dport),
              f"frame {n}: ports {(fields['sport'], fields['dport'])}, reference "
              f"{(pkt.sport, pkt.dport)}")


# Reported core defects, by name, for WIRESCORE_FUZZ_DIFF_SKIP=name,... so that a
# differential run can look past them (each has a test in tests/test_fuzz_regressions.py).
KNOWN_DIFFERENCES = {
    # the core walks IPv6 extension headers on past a fragment header with offset > 0,
    # reading fragment data as headers (error or a wrong protocol for a later fragment)
    "ipv6-later-fragment-walk": lambda pkt: pkt is not None and pkt.version == 6 and
    pkt.frag_offset > 0,
}


def _cross_icmp(linktype, frame) -> bool:
    """Whether the core sees ICMP (1) over IPv6 or ICMPv6 (58) over IPv4."""
    result, fields, _ = _decode.decode_one(_exact(frame), linktype)
    return (fields["ipver"] == 6 and fields["proto"] == 1) or \
        (fields["ipver"] == 4 and fields["proto"] == 58)


def _is_jumbogram(linktype, frame) -> bool:
    """Whether the frame holds an IPv6 header with payload length 0 and a hop-by-hop
    header next, anywhere the decoder could find it (a cheap over-approximation)."""
    b = bytes(frame)
    return any(b[i] >> 4 == 6 and b[i + 4] == 0 and b[i + 5] == 0 and b[i + 6] == 0
               for i in range(len(b) - 6))


# ---- libFuzzer entry point ------------------------------------------------------------------

def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    run_one(data, diff=os.environ.get("WIRESCORE_FUZZ_DIFF", "") not in ("", "0"))


def main(argv: list[str]) -> None:
    import atheris

    # libFuzzer re-executes argv[0] for -minimize_crash, -fork and -jobs; run.py points it
    # at a shell wrapper that starts this interpreter on this file (a .py is not a program)
    argv = [os.environ.get("WIRESCORE_FUZZ_ARGV0", argv[0]), *argv[1:]]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
