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
    byte 3      table sizes: bits0-2 max_flows, bits3-4 fragment slots and the window
                key table (16..1024 keys, so that full tables and dropped keys happen);
                bits 5 and 6 both set: endpoint context tables on (a quarter of inputs),
                sized by bits0-1 (16..4096 hosts: tables fill and hosts get replaced),
                with bit4 pending attempts (16: the FIFO fills) confirmed after the grace
                byte 2's bit6 picks (0.5 s, or 1 µs: at the next frame);
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
- each record is sane (first packet toserver, end >= start, enum values in range,
  crafted-flag counts within the direction's TCP packets) and
  the end-reason and end-state counters equal the records' reasons and states;
- traffic windows (when on): every IP packet in one window per key kind or counted as
  dropped; records on the window grid, ratios in [0, 1], distinct counts, entropy and
  crafted-flag packets in range;
- the packet ring (when on): an in-order run of the frames fed, byte for byte, within
  its size; all IP frames while it never wrapped; each decodes to IPv4/IPv6 again and
  carries the link type fed;
  ring_flow() of the first 8 records: each an in-order run of the ring's frames (bytes
  and meta rows); ring_key(side, key, version, start, end): exactly the ring's frames
  in [start, end) whose source (side 1) / destination (side 2) address is key, three
  queries an input (see _check_ring_key), and bad arguments refused; without a ring,
  ring_key() returns nothing;
- ARP (when the core has it, inputs without the ring): every ARP record drained within
  its units (_check_arp_records), the ARP counters within the frames decoded;
- the application layer (when the core has it; tiny pools so the take-back runs, events
  kept or not): every DNS event drained within its bounds (check_dns_records), its EVE
  line from format_dns() the Python writer's, byte for byte (check_dns_lines);
- format_flows() writes one whole JSON line per record, byte-identical to the Python
  FlowEventFormatter (wirescore.outputs.eve) on the same records (the first PY_COMPARE),
  every later line a JSON flow event.
With WIRESCORE_FUZZ_DIFF=1, each decoded frame is also compared with the independent
reference decoder tests/flowref.py (result, version, protocol, addresses, ports, VLANs,
wire length); see _differential for the rules the reference does not model.

Speed (README.md "Speed"): the references that are pure functions of their input (the
Python formatter's line for a record, json.loads of a line, decode_one() of a ring frame)
are memoised across inputs, since libFuzzer's mutants repeat most frames and records;
the core's own calls are never skipped or cached. Frames fed are kept as arrays (class
Fed), and the ring checks are vectorised.

The module imports no atheris at import time, so the regression tests
(tests/test_fuzz_regressions.py) replay inputs through run_one() with the installed build.
"""
from __future__ import annotations

import json
import os
import sys
import zlib
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
from wirescore._core import pktrows as _pktrows  # noqa: E402

# the link types of the contract (README "Decoding"), plus 14 (RAW, OpenBSD)
LINKTYPES = (1, 113, 276, 12, 101, 228, 229, 0, 108, 239, 9, 50, 104, 14)
MAX_FRAMES = 600                  # frames per input read (the input's 8 KB bounds it anyway;
                                  # under 1024: Fed.ring_keys() packs a frame's id in 10 bits)
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
HAS_RING_KEY = HAS_RING and hasattr(_ft.FlowMeter, "ring_key")   # core 9f78d33 on
try:                                  # sized context and window tables (core of stop 9 on)
    _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, context_hosts=16,
                  window_max_keys=16)
    HAS_TABLE_SIZES = True
except TypeError:
    HAS_TABLE_SIZES = False
try:                                  # context tables filled before reused (clock.pxd)
    from wirescore._core import ctables as _ctables  # noqa: E402
    FILLS_FIRST = hasattr(_ctables, "CLOCK_REACH")
except ImportError:
    FILLS_FIRST = False
try:                                  # the application layer (ext/app/)
    _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, app_events=True)
    HAS_APP = True
except TypeError:
    HAS_APP = False
HAS_ARP = hasattr(_ft, "ARP_DTYPE")   # ARP in the host context (ext/arp.pxd)
ARP_HOSTS = (16, 1024)                # ARP table rows: tiny, so live rows get replaced
ARP_MAX_TARGETS = 128 * np.log(128)   # linear counting over SCAN_BITS saturates here
HAS_PENDING = hasattr(_ft, "ATTEMPT_DTYPE")   # pending attempts (ext/pending.pxd)
SCAN_PENDING = (0, 16)                # FIFO entries: tiny, so early confirmation runs
SCAN_GRACES = (0.5, 0.000001)         # the default, and shorter than any frame gap
HAS_UPDATES = hasattr(_ft.FlowMeter, "drain_updates")   # updates of open flows
UPDATE_INTERVALS = (5.0, 0.001)       # the default, and shorter than most frame gaps


def _takes(option: str) -> bool:
    """Whether this core's FlowMeter takes the keyword `option`."""
    try:
        _ft.FlowMeter(1, max_flows=1, out_capacity=64, frag_slots=1, **{option: 0.0})
    except TypeError:
        return False
    return True


HAS_QUIET = _takes("quiet_after")     # the quiet list (flowtable.pxd), quiet updates
QUIET_AFTERS = (0.0, 10.0, 0.3, 0.000001)   # off, the setting's default, short, the least
HAS_EARLY = hasattr(_ft.FlowMeter, "drain_window_updates")   # early window records
HAS_SPLT = hasattr(_ft, "SPLT_PACKETS_MAX")          # first packets of each flow (splt.pxd)
SPLT_PACKETS = (0, 3)                 # off, and fewer than most flows' packets
HAS_PKTSTATS = "pkt_stats" in _ft.RECORD_DTYPE.names   # per-packet statistics (pktstats.pxd)
ACTIVITY_TIMEOUTS = (5.0, 0.0005)     # CICFlowMeter's, and shorter than most frame gaps
HAS_ANOMALY = hasattr(_ft, "ANOMALY_DTYPE")                  # decoder faults as records
WINDOW_EARLY = (16, 1)                # the default, and every power of two
APP_FLOWS = (2, 64)                   # summary records: tiny, so the take-back runs
APP_STREAMS = (1, 8)
CONTEXT_HOSTS = (16, 64, 256, 4096)   # the default (65,536) costs 32 MB a meter
WINDOW_MAX_KEYS = (16, 64, 256, 1024)  # the default (16,384) costs 2 ms a meter under ASAN
RING_BYTES = 65536
RING_COLS = 5                         # ring_*() meta: sec, usec, caplen, wire_len, linktype
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


def _drain_records(meter, records: list) -> None:
    """meter.drain() into records; each record's SPLT fields (splt.pxd) checked against
    the rest of it: as many packets kept as the flow had, up to the meter's splt (0 when
    off); the first toserver with gap 0; no more of a direction than the record counts;
    the slots past the count zero; a flow kept whole adds up to its bytes and duration.
    Its per-packet statistics too (check_pktstats)."""
    recs = meter.drain()
    records.append(recs)
    if HAS_PKTSTATS and len(recs):
        check_pktstats(recs, meter.activity_timeout if meter.pktstats else None)
    if not HAS_SPLT or not len(recs):
        return
    n = meter.splt_packets
    total = recs["pkts_toserver"] + recs["pkts_toclient"]
    count = recs["splt_count"].astype(np.int64)
    check((count == np.minimum(total, n)).all(), "splt_count != min(packets, splt)")
    kept = np.arange(recs["splt_size"].shape[1])[None, :] < count[:, None]
    d, size, gap = recs["splt_direction"], recs["splt_size"], recs["splt_gap_us"]
    check(((d[:, 0] == 0) & (gap[:, 0] == 0))[count > 0].all(), "SPLT first packet")
    check(((d <= 1) | ~kept).all() and ((size > 0) == kept).all()
          and (d[~kept] == 0).all() and (gap[~kept] == 0).all(),
          "SPLT slots past the count not zero, or a kept size 0")
    check((((d == 0) & kept).sum(1) <= recs["pkts_toserver"]).all()
          and (((d == 1) & kept).sum(1) <= recs["pkts_toclient"]).all(),
          "SPLT has more packets of a direction than the record")
    whole = (count == total) & (size.max(1, initial=0) < 65535)
    nbytes = recs["bytes_toserver"] + recs["bytes_toclient"]
    check((np.where(kept, size, 0).sum(1) == nbytes)[whole].all(), "SPLT sizes != bytes")
    span = (recs["end_us"] - recs["start_us"]).astype(np.int64)
    spent = np.where(kept, gap, 0).astype(np.int64).sum(1)
    check((spent == span)[whole & (gap.max(1, initial=0) < 0xFFFFFFFF)].all(),
          "SPLT gaps != duration")

def check_pktstats(recs, activity_s) -> None:
    """The records' pkt_* fields (pktstats.pxd) against the rest of each record: off
    (activity_s None) all zero; on, per direction the payload mean (payload bytes over
    packets) between the min and the max, the std at most half their range, packets
    with payload at most the packets (none when the max is 0), the header bytes at least
    the smallest header times the packets; merged min / max those of the directions; the
    merged gaps' mean (duration over packets - 1) between their min and max, the max at
    most the duration; idle periods each longer than the activity timeout, at most one
    per gap, the active and idle periods within the duration."""
    names = [n for n in recs.dtype.names if n.startswith("pkt_") and n != "pkt_stats"]
    if activity_s is None:
        check((recs["pkt_stats"] == 0).all() and all((recs[n] == 0).all() for n in names),
              "pkt_* fields set with pktstats off")
        return
    check((recs["pkt_stats"] == 1).all(), "pkt_stats not 1 with pktstats on")
    eps = 1e-6
    total = (recs["pkts_toserver"] + recs["pkts_toclient"]).astype(np.float64)
    for side in ("toserver", "toclient"):
        k = recs[f"pkts_{side}"].astype(np.float64)
        lo, hi = recs[f"pkt_payload_min_{side}"], recs[f"pkt_payload_max_{side}"]
        std, data = recs[f"pkt_payload_std_{side}"], recs[f"pkt_data_{side}"]
        mean = np.where(k > 0, recs[f"payload_bytes_{side}"] / np.maximum(k, 1), 0.0)
        seen = k > 0
        check(((lo <= mean + eps) & (mean <= hi + eps))[seen].all()
              and ((lo == 0) & (hi == 0) & (std == 0) & (data == 0))[~seen].all(),
              f"pkt_payload {side}: mean outside [min, max], or values without packets")
        check((std <= (hi - lo) / 2 + eps).all() and (std >= 0).all(),
              f"pkt_payload_std_{side} beyond half the range")
        check((data <= k).all() and ((data == 0) == (hi == 0))[seen].all(),
              f"pkt_data_{side} inconsistent with the packets or payloads")
        hmin, hbytes = recs[f"pkt_header_min_{side}"], recs[f"pkt_header_bytes_{side}"]
        check((hbytes >= hmin * k).all() and (hmin <= 60).all(),
              f"pkt_header_bytes_{side} under min x packets")
    ts, tc = recs["pkts_toserver"] > 0, recs["pkts_toclient"] > 0
    for f, pick in (("pkt_payload_min", np.minimum), ("pkt_payload_max", np.maximum)):
        a, b = recs[f + "_toserver"], recs[f + "_toclient"]
        want = np.where(ts & tc, pick(a, b), np.where(ts, a, b))
        check((recs[f] == want).all(), f"{f} not the directions'")
    span = (recs["end_us"] - recs["start_us"]).astype(np.float64)
    two = total >= 2
    gap_mean = np.where(two, span / np.maximum(total - 1, 1), 0.0)
    lo, hi = recs["pkt_iat_min"], recs["pkt_iat_max"]
    check(((lo <= gap_mean + eps) & (gap_mean <= hi + eps) & (hi <= span))[two].all()
          and ((lo == 0) & (hi == 0) & (recs["pkt_iat_std"] == 0))[~two].all(),
          "merged gaps: mean outside [min, max], max over the duration")
    check((recs["pkt_iat_std"] <= (hi - lo) / 2 + eps).all(), "pkt_iat_std beyond range")
    n_idle, n_act = recs["pkt_idle_count"], recs["pkt_active_count"]
    timeout_us = activity_s * 1e6
    check((n_idle <= np.maximum(total - 1, 0)).all() and (n_act <= n_idle).all()
          and (recs["pkt_idle_min"] > timeout_us - eps)[n_idle > 0].all()
          and (recs["pkt_active_min"] > 0)[n_act > 0].all(),
          "activity periods: more than the gaps, or an idle period under the timeout")
    spent = recs["pkt_idle_mean"] * n_idle + recs["pkt_active_mean"] * n_act
    check((spent <= span + 1e-3 * (1 + n_idle + n_act)).all(),
          "activity and idle periods longer than the flow")


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


class Fed:
    """The frames fed, in order: the input's frames played `plays` times, each play later
    on the clock. Kept as arrays (times, lengths, content ids) plus the input's frames:
    a played input can be thousands of frames, and one Python object per frame fed was
    a good part of an input's time under ASAN."""

    def __init__(self, frames, plays: int):
        n = len(frames)
        self.frames = [f for _s, _u, f in frames]       # the input's frames (bytes)
        self.plays = plays
        self.count = n * plays
        secs = np.array([s for s, _u, _f in frames], dtype=np.int64)
        usecs = np.array([u for _s, u, _f in frames], dtype=np.int64)
        lens = np.array([len(f) for f in self.frames], dtype=np.int64)
        ids: dict[bytes, int] = {}                      # equal frames share a content id
        cid = np.array([ids.setdefault(f, len(ids)) for f in self.frames], dtype=np.int64)
        self.ids = ids
        self.contents = list(ids)                       # content id -> frame
        if plays > 1:
            # play k at sec + k * (last - T0 + 7), within 32 bits like the pcap field
            shift = np.arange(plays, dtype=np.int64) * (frames[-1][0] - T0 + 7)
            secs = ((secs[None, :] + shift[:, None]) & 0xFFFFFFFF).ravel()
            usecs, lens, cid = np.tile(usecs, plays), np.tile(lens, plays), np.tile(cid, plays)
        self.secs, self.usecs, self.lens, self.cid = secs, usecs, lens, cid
        self.ts = secs * 1_000_000 + usecs              # the core's packet time, us
        self.total_bytes = int(lens.sum())

    def frame(self, i: int) -> bytes:
        return self.frames[i % len(self.frames)]

    def rows(self) -> np.ndarray:
        """Meta rows (sec, usec, offset, caplen) for the frames fed laid end to end."""
        rows = np.empty((self.count, 4), dtype=np.uint32)
        rows[:, 0] = self.secs
        rows[:, 1] = self.usecs
        rows[:, 2] = np.cumsum(self.lens) - self.lens
        rows[:, 3] = self.lens
        return rows

    def blob(self) -> bytes:
        return b"".join(self.frames) * self.plays


def _decode_frames(linktype, frames, diff: bool):
    """decode_one() on the first frames; returns (ip, nonip, error) counts."""
    totals = {"ip": 0, "nonip": 0, "error": 0}
    for n, frame in enumerate(frames):
        result, fields, counters = _decode.decode_one(_exact(frame), linktype)
        check(result in totals, f"frame {n}: decode_one result {result!r}")
        totals[result] += 1
        cnt = counters.tolist()
        buckets = (cnt[IX["wirescore.decoded_ip"]], cnt[IX["wirescore.nonip"]],
                   cnt[IX["decoder.invalid"]])
        want = {"ip": (1, 0, 0), "nonip": (0, 1, 0), "error": (0, 0, 1)}[result]
        check(cnt[IX["decoder.pkts"]] == 1 and buckets == want,
              f"frame {n}: decode_one says {result} but counts (ip, nonip, invalid) = "
              f"{buckets}, pkts {cnt[IX['decoder.pkts']]}")
        if result == "ip":
            check(fields["ipver"] in (4, 6), f"frame {n}: IP packet of version {fields['ipver']}")
            check(len(fields["vlan"]) <= 2, f"frame {n}: {len(fields['vlan'])} VLAN ids")
            check(fields["wire_len"] >= len(frame), f"frame {n}: wire_len {fields['wire_len']} "
                  f"< captured {len(frame)}")
            if not fields["has_ports"]:
                check(fields["sport"] == 0 and fields["dport"] == 0,
                      f"frame {n}: ports without has_ports")
        _check_pktrow(linktype, frame, result, fields, n)
        if diff:
            _differential(linktype, frame, result, fields, n)
    return totals


def _check_pktrow(linktype, frame: bytes, result: str, fields: dict, n: int) -> None:
    """The netml set's per-packet row (ext/pktrows.pyx) of one frame in an exact-size
    buffer: the decoder's view, as decode_one() gives it; zero beyond the result for a
    frame that is not IP."""
    meta = np.array([[7, 9, 0, len(frame)]], dtype=np.uint32)
    rows = _pktrows.PacketRows().rows(_exact(frame), meta, linktype)
    check(len(rows) == 1, f"frame {n}: {len(rows)} packet rows")
    r = rows[0]
    check(_decode.RESULT_NAMES[int(r["result"])] == result,
          f"frame {n}: packet row result {int(r['result'])}, decode_one {result}")
    check(int(r["ts_us"]) == 7_000_009 and int(r["caplen"]) == len(frame),
          f"frame {n}: packet row time/caplen {int(r['ts_us'])}/{int(r['caplen'])}")
    if result != "ip":
        check(int(r["ipver"]) == 0 and int(r["wire_len"]) == 0 and not r["src"].any(),
              f"frame {n}: a {result} frame's packet row has IP fields")
        return
    alen = 4 if fields["ipver"] == 4 else 16
    got = {k: int(r[k]) for k in ("ipver", "proto", "sport", "dport", "has_ports",
                                  "tcp_flags", "ttl", "wire_len", "frag")}
    want = {k: int(fields[k]) for k in got}
    check(got == want, f"frame {n}: packet row {got} != decode_one {want}")
    check(bytes(r["src"][:alen]) == fields["src"] and bytes(r["dst"][:alen]) == fields["dst"],
          f"frame {n}: packet row addresses differ from decode_one's")


BAD_ROWS = ((0xFFFFFFFF, 0), (0, 0xFFFFFFFF), (1, 0xFFFFFFFF), (0xFFFFFFF0, 0x20),
            (0x7FFFFFFF, 0x7FFFFFFF))


def check_dns_records(recs) -> None:
    """DNS event records (ext/app/dns.pxd DnsEvent) within their bounds: the name and
    every kept answer's name and data inside the used text, counts within the header's.
    The answers kept are records read whole, plus at most one last TXT or NULL record of a
    message cut by the capture (DE_CUT), kept with the bytes there (DA_DATA_TRUNC) and not
    counted in answers."""
    from wirescore.core_names import DNS_ANSWERS, DNS_EVENT_BITS, DNS_NAME, DNS_TEXT
    bits = dict(DNS_EVENT_BITS)
    for r in recs:
        used = int(r["text_len"])
        check(used <= DNS_TEXT and int(r["qname_len"]) <= min(DNS_NAME, used),
              f"dns name {int(r['qname_len'])} / text {used}")
        kept, whole = int(r["n_answers"]), int(r["answers"])
        cut_last = (kept == whole + 1 and kept >= 1 and int(r["status"]) & bits["DE_CUT"]
                    and int(r["an_flags"][kept - 1]) & bits["DA_DATA_TRUNC"]
                    and int(r["an_type"][kept - 1]) in (16, 10))
        check(kept <= DNS_ANSWERS and (kept <= whole or cut_last)
              and whole + (1 if cut_last else 0) <= int(r["ancount"]), "dns answer counts")
        check(int(r["direction"]) in (0, 1) and int(r["proto"]) in (6, 17), "dns identity")
        for k in range(int(r["n_answers"])):
            for what in ("name", "data"):
                off, n = int(r[f"an_{what}_off"][k]), int(r[f"an_{what}_len"][k])
                check(off + n <= used and n <= max(DNS_NAME, 16),
                      f"dns answer {k} {what} [{off}, +{n}) beyond text {used}")


def check_dns_lines(recs) -> None:
    """format_dns() (ext/evedns.pyx) of the first PY_COMPARE DNS event records: byte for
    byte the Python writer's lines (wirescore.outputs.eve_dns, json.dumps)."""
    from wirescore._core.evedns import format_dns
    from wirescore.outputs.eve import _dumps
    from wirescore.outputs.eve_dns import DnsEventFormatter
    recs = np.ascontiguousarray(recs[:PY_COMPARE])
    out = format_dns(recs).split(b"\n")
    check(len(out) == len(recs) + 1 and out[-1] == b"", "format_dns: one line a record")
    for n, ev in enumerate(DnsEventFormatter().events(recs)):
        py = _dumps(ev).encode()
        if out[n] != py:
            raise FuzzFailure(f"C and Python EVE dns lines differ at record {n}:\n  C:  "
                              f"{out[n]!r}\n  Py: {py!r}")


def _drain(meter, records: list, windows: list | None) -> int:
    """drain() (and drain_windows(), drain_app()); returns how many records came out."""
    _drain_records(meter, records)
    n = len(records[-1])
    if HAS_APP:
        for kind, evs in meter.drain_app().items():
            n += len(evs)
            if kind == "dns":
                check_dns_records(evs)
                check_dns_lines(evs)
    if windows is not None:
        w = meter.drain_windows()
        windows.append(w)
        n += len(w)
    if HAS_ARP:
        arp = meter.drain_arp()
        _check_arp_records(arp)
        n += len(arp)
    return (n + _drain_attempts(meter) + _drain_updates(meter) + _drain_early(meter)
            + _drain_anomalies(meter))


def _drain_anomalies(meter) -> int:
    """drain_anomalies() checked: each record's fault a decoder counter slot, its IP
    version 0, 4 or 6, IPv4 addresses within 4 bytes; how many."""
    if not HAS_ANOMALY:
        return 0
    recs = meter.drain_anomalies()
    for r in recs:
        name = _ft.COUNTER_NAMES[int(r["event"])]
        if not name.startswith(("decoder.event.", "wirescore.")):
            raise FuzzFailure(f"anomaly record with counter slot {int(r['event'])} ({name})")
        version = int(r["ip_version"])
        if version not in (0, 4, 6) or (version == 4 and (any(bytes(r["src"])[4:])
                                                         or any(bytes(r["dst"])[4:]))):
            raise FuzzFailure(f"anomaly record with bad addresses: {r}")
    return len(recs)


def _drain_early(meter) -> int:
    """drain_window_updates() checked: snapshots of open windows (early 1), each with a
    packet, its checkpoint within its window, IPv4 keys within 4 bytes; how many."""
    if not HAS_EARLY:
        return 0
    recs = meter.drain_window_updates()
    if not len(recs):
        return 0
    bad = {
        "early not set": recs["early"] != 1,
        "no packet": recs["packets"] < 1,
        "ends before it starts": recs["end_us"] < recs["start_us"],
        "IPv4 key bytes past 4": (recs["ip_version"] == 4) & (recs["addr"][:, 4:] != 0).any(axis=1),
    }
    for what, mask in bad.items():
        if mask.any():
            raise FuzzFailure(f"early window record {int(np.flatnonzero(mask)[0])}: {what}")
    return len(recs)


def _drain_updates(meter) -> int:
    """drain_updates() checked: records of open flows (reason none), each within its
    flow's time and with at least one packet; how many came out."""
    if not HAS_UPDATES:
        return 0
    recs = meter.drain_updates()
    if not len(recs):
        return 0
    bad = {
        "reason not none": recs["reason"] != 0,
        "no packet": (recs["pkts_toserver"] + recs["pkts_toclient"]) < 1,
        "ends before it starts": recs["end_us"] < recs["start_us"],
        "reported before its packet": (recs["report_us"] < recs["end_us"]
                                       if "report_us" in recs.dtype.names
                                       else np.zeros(len(recs), dtype=bool)),
        "app fields set": recs["app_proto"] != 0,
        # an update is read as it stands: its quiet scan counts are its own
        "quiet scan counts not its own": (
            (recs["quiet_dst_unanswered_srcs"] != recs["ctx_dst_unanswered_srcs"])
            | (recs["quiet_src_unanswered_hosts"] != recs["ctx_src_unanswered_hosts"])
            | (recs["quiet_src_unanswered_services"] != recs["ctx_src_unanswered_services"])
            if "quiet_dst_unanswered_srcs" in recs.dtype.names
            else np.zeros(len(recs), dtype=bool)),
        "IPv4 address bytes past 4": (recs["ip_version"] == 4)
        & ((recs["src_addr"][:, 4:] != 0).any(axis=1) | (recs["dest_addr"][:, 4:] != 0).any(axis=1)),
    }
    for what, mask in bad.items():
        if mask.any():
            raise FuzzFailure(f"update record {int(np.flatnonzero(mask)[0])}: {what}")
    return len(recs)


def _drain_attempts(meter) -> int:
    """drain_attempts() checked: its records within their units; how many came out."""
    if not HAS_PENDING:
        return 0
    recs = meter.drain_attempts()
    if not len(recs):
        return 0
    counts = np.stack([recs[f] for f in ("ctx_src_unanswered_hosts",
                                         "ctx_src_unanswered_services",
                                         "ctx_dst_unanswered_srcs")])
    bad = {
        "answered not 0/1": recs["answered"] > 1,
        "ip_version not 4 or 6": (recs["ip_version"] != 4) & (recs["ip_version"] != 6),
        "confirmed before its attempt": recs["ts_us"] < recs["attempt_us"],
        "a key's first failure after the confirmation": (
            (recs["since_hosts_us"] > recs["ts_us"]) | (recs["since_services_us"] > recs["ts_us"])
            | (recs["since_srcs_us"] > recs["ts_us"])),
        "count out of range": ((counts < 0) | (counts > ARP_MAX_TARGETS + 1e-6)).any(axis=0),
        "IPv4 address bytes past 4": (recs["ip_version"] == 4)
        & ((recs["src_addr"][:, 4:] != 0).any(axis=1) | (recs["dest_addr"][:, 4:] != 0).any(axis=1)),
    }
    for what, mask in bad.items():
        if mask.any():
            raise FuzzFailure(f"attempt record {int(np.flatnonzero(mask)[0])}: {what}")
    return len(recs)


def _check_arp_records(recs) -> None:
    """ARP records within their units: a request or a reply, IPv4, the sender's distinct
    targets in [0, saturation], a binding change a 0/1 flag with a prior binding at most
    120 s old (and no age without a change), addresses in the first 4 bytes."""
    if not len(recs):
        return
    bad = {
        "op not 1 or 2": (recs["op"] < 1) | (recs["op"] > 2),
        "ip_version not 4": recs["ip_version"] != 4,
        "sender_targets out of range": (recs["sender_targets"] < 0)
        | (recs["sender_targets"] > ARP_MAX_TARGETS + 1e-6),
        "binding_change not 0/1": recs["binding_change"] > 1,
        "prior_age_s out of range": (recs["prior_age_s"] < 0) | (recs["prior_age_s"] > 120)
        | ((recs["binding_change"] == 0) & (recs["prior_age_s"] != 0)),
        "address bytes past 4": (recs["sender_ip"][:, 4:] != 0).any(axis=1)
        | (recs["target_ip"][:, 4:] != 0).any(axis=1),
    }
    for what, mask in bad.items():
        if mask.any():
            raise FuzzFailure(f"ARP record {int(np.flatnonzero(mask)[0])}: {what}")


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


def _concat(parts: list, dtype) -> np.ndarray:
    """The drained arrays as one (through bytes: np.concatenate on a structured dtype
    promotes field by field, ~0.25 ms an array under ASAN)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.empty(0, dtype=dtype)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([np.ascontiguousarray(p).view(np.uint8) for p in parts]).view(dtype)


def _plan(data: bytes):
    """The input's parts and how it is played: (linktype, flags, tsel, msel, Fed, meter
    options, window length), or None when the input is too short."""
    parsed = parse(data)
    if parsed is None:
        return None
    linktype, flags, tsel, msel, frames = parsed
    ring = HAS_RING and bool(msel & 0x80)
    plays = 1
    if flags & 0x20 and frames:
        # more plays of the same frames, each later on the clock
        plays = 3
        if ring:                          # enough plays to wrap the ring about twice
            plays = min(32, max(3, 2 * RING_BYTES // max(1, sum(len(f) for *_x, f in frames))))
    fed_frames = Fed(frames, plays)
    options = dict(max_flows=MAX_FLOWS[msel & 7], timeouts=TIMEOUT_PROFILES[tsel & 3],
                   active_timeout=ACTIVE_TIMEOUTS[(tsel >> 2) & 3], tcp_close=bool(flags & 1),
                   out_capacity=64 if flags & 0x10 else 256,
                   frag_slots=FRAG_SLOTS[(msel >> 3) & 3])
    if HAS_CONTEXT:
        options["context"] = (msel & 0x60) == 0x60
        if HAS_PENDING and options["context"]:
            options.update(scan_pending=SCAN_PENDING[(msel >> 4) & 1],
                           scan_grace=SCAN_GRACES[(tsel >> 6) & 1])
    if HAS_UPDATES:                   # with context or without (then no ctx_* read)
        options["update_interval"] = UPDATE_INTERVALS[(tsel >> 6) & 1]
    if HAS_QUIET:                     # with updates on or off: the list either way
        options["quiet_after"] = QUIET_AFTERS[((tsel >> 2) ^ (msel >> 5)) & 3]
    if HAS_SPLT:
        options["splt"] = SPLT_PACKETS[(tsel >> 5) & 1]
    if HAS_PKTSTATS and (tsel >> 5) & 1:
        options.update(pktstats=True, activity_timeout=ACTIVITY_TIMEOUTS[(tsel >> 4) & 1])
    if HAS_TABLE_SIZES:
        options["context_hosts"] = CONTEXT_HOSTS[msel & 3]
        options["window_max_keys"] = WINDOW_MAX_KEYS[(msel >> 3) & 3]
    win_seconds = WINDOW_SECONDS[(tsel >> 4) & 3] if HAS_WINDOWS else 0.0
    if win_seconds:
        options["window_seconds"] = win_seconds
        options["window_keys"] = WINDOW_KEYS[tsel >> 6]
        if HAS_EARLY:                 # a tiny buffer with tiny record buffers: skips run
            options.update(window_early=WINDOW_EARLY[(msel >> 1) & 1],
                           window_early_capacity=4 if flags & 0x10 else 65536)
    if ring:
        options["ring_bytes"] = RING_BYTES
    elif HAS_ARP:                     # the ring checks count IP frames only
        options["arp_hosts"] = ARP_HOSTS[msel & 1]
    if HAS_ANOMALY:
        options["anomalies"] = bool(msel & 0x80)
    if HAS_APP:
        options.update(app_flows=APP_FLOWS[(msel >> 2) & 1],
                       app_streams=APP_STREAMS[(msel >> 5) & 1],
                       app_events=bool(msel & 0x0C))
    return linktype, flags, tsel, msel, fed_frames, options, win_seconds


def _feed_batches(meter, fed_frames: Fed, flags: int, records: list,
                  windows: list | None) -> int:
    """Feed every frame as the engine does (successive next_batch() results sharing one
    buffer; with flag bit3, bad meta rows in the middle; bit2, expire() after each
    batch); returns the rows fed."""
    fed = 0
    rows = fed_frames.rows()
    if flags & 8:
        last = (int(rows[-1, 0]), int(rows[-1, 1])) if len(rows) else (T0, 0)
        bad = np.array([[last[0], last[1], off, cap] for off, cap in BAD_ROWS],
                       dtype=np.uint32)
        rows = np.concatenate([rows[: len(rows) // 2], bad, rows[len(rows) // 2:]])
    data_buf = _exact(fed_frames.blob())
    step = 5 if flags & 0x80 else max(1, (rows.shape[0] + 1) // 2)
    for start in range(0, rows.shape[0], step):  # as successive next_batch() results
        part = rows[start:start + step]
        part = np.ascontiguousarray(part)
        _feed_all(meter, data_buf, part, records, windows)
        fed += part.shape[0]
        if flags & 4 and part.shape[0]:
            while not meter.expire(float(part[-1, 0]) + 1.0):
                _drain_records(meter, records)
                _drain_attempts(meter)
            _drain_records(meter, records)
    return fed


def _finish(meter, records: list, windows: list | None, fed: int, decoded, flags: int,
            fed_frames: Fed, options: dict, win_seconds: float):
    """The engine's shutdown loop (every live flow out, the last window closed), then
    the checks both modes make: counters (against decode_one's counts unless decoded is
    None), records, windows. Returns (records, counters, decoded IP packets, windows or
    None)."""
    while meter.shutdown():
        _drain_records(meter, records)
        _drain_attempts(meter)
    _drain_records(meter, records)
    _drain_attempts(meter)
    if windows is not None:
        meter.close_window()
        windows.append(meter.drain_windows())
    check(meter.active_flows == 0, f"{meter.active_flows} flows live after shutdown")
    recs = _concat(records, RECORD_DTYPE)
    cnt = meter.counters
    _check_counters(cnt, recs, fed, decoded, flags, fed_frames.count)
    _check_records(recs)
    _check_context_tables(recs, cnt, options)
    w = None
    if windows is not None:
        w = _concat(windows, _ft.WINDOW_DTYPE)
        _check_windows(w, cnt, options["window_keys"], win_seconds,
                       options.get("window_max_keys", 16384))
    return recs, cnt, int(cnt[IX["wirescore.decoded_ip"]]), w


def run_one(data: bytes, diff: bool = False) -> dict:
    """Play one fuzz input through the core and check the contract; returns a summary."""
    plan = _plan(data)
    if plan is None:
        return {}
    linktype, flags, tsel, msel, fed_frames, options, win_seconds = plan
    ring = "ring_bytes" in options

    decoded = _decode_frames(linktype, [fed_frames.frame(i) for i in
                                        range(min(DECODE_ONE_FRAMES, fed_frames.count))], diff)

    windows: list | None = [] if win_seconds else None
    meter = _ft.FlowMeter(linktype, **options)
    records: list = []
    fed = 0
    if flags & 2:                                   # each frame in its own batch and buffer
        secs, usecs = fed_frames.secs.tolist(), fed_frames.usecs.tolist()
        for i in range(fed_frames.count):
            frame = fed_frames.frame(i)
            sec, usec = secs[i], usecs[i]
            rows = np.array([[sec, usec, 0, len(frame)]], dtype=np.uint32)
            _feed_all(meter, _exact(frame), rows, records, windows)
            fed += 1
            if flags & 4:
                check(meter.expire(sec + usec / 1e6) in (True, False), "expire() result")
                _drain_records(meter, records)
                _drain_attempts(meter)
    else:
        fed = _feed_batches(meter, fed_frames, flags, records, windows)
    recs, cnt, ip, w = _finish(meter, records, windows, fed, decoded, flags, fed_frames,
                               options, win_seconds)
    _check_eve(recs, flags)
    if ring:
        _check_ring(meter, fed_frames, recs, ip, linktype, w, zlib.crc32(data))
    elif HAS_RING_KEY:
        got, meta = meter.ring_key(1, b"\x7f\0\0\1", 4, 0.0, float(1 << 34))
        check(got == b"" and meta.shape == (0, RING_COLS),
              "ring_key() without a ring: not empty")
    return {"linktype": linktype, "frames": fed_frames.count, "flows": len(recs),
            "decoded_ip": ip}


def run_lean(data: bytes) -> dict:
    """The throughput mode (run.py --lean, WIRESCORE_FUZZ_LEAN=1): the same inputs and
    meter options as run_one, every frame through decode, flow table, windows, context
    and ring, fed as the engine feeds them (flag bit1's one-buffer-per-frame mode too,
    as batches), with the accounting checks (every packet in one bucket and in one
    flow record, one record per flow, counters = records, sane records, every IP packet
    in one window per kind or counted, the ring within its bounds) and format_flows()
    writing one line per record. Left to run_one: decode_one(), the byte-for-byte
    comparisons with the Python formatter and the ring's contents, ring_flow() and
    ring_key(). About 5 times as many inputs a second under ASAN."""
    plan = _plan(data)
    if plan is None:
        return {}
    linktype, flags, tsel, msel, fed_frames, options, win_seconds = plan
    windows: list | None = [] if win_seconds else None
    meter = _ft.FlowMeter(linktype, **options)
    records: list = []
    fed = _feed_batches(meter, fed_frames, flags, records, windows)
    recs, _cnt, ip, _w = _finish(meter, records, windows, fed, None, flags, fed_frames,
                                 options, win_seconds)
    if len(recs):
        out = _eve.format_flows(np.ascontiguousarray(recs))
        lines = out.count(b"\n")
        check(lines == len(recs) and out.endswith(b"\n"),
              f"format_flows: {lines} lines for {len(recs)} records")
    if "ring_bytes" in options:
        _ring_bounds(meter, ip)
    return {"linktype": linktype, "frames": fed_frames.count, "flows": len(recs),
            "decoded_ip": ip}


def _check_counters(cnt, recs, fed, decoded, flags, nframes: int) -> None:
    c = dict(zip(NAMES, cnt.tolist()))
    pkts, ip, nonip, bad = (c["decoder.pkts"], c["wirescore.decoded_ip"], c["wirescore.nonip"],
                            c["decoder.invalid"])
    check(pkts == fed, f"decoder.pkts {pkts} but {fed} rows fed")
    check(pkts == ip + nonip + bad, f"pkts {pkts} != ip {ip} + nonip {nonip} + invalid {bad}")
    if decoded is not None and nframes <= DECODE_ONE_FRAMES:   # decode_one saw each frame
        check((ip, nonip, bad - c["capture.errors"]) ==
              (decoded["ip"], decoded["nonip"], decoded["error"]),
              f"feed counted (ip, nonip, error) = ({ip}, {nonip}, "
              f"{bad - c['capture.errors']}), decode_one {decoded}")
    in_flows = int(recs["pkts_toserver"].sum() + recs["pkts_toclient"].sum()) if len(recs) else 0
    check(in_flows == ip, f"{in_flows} packets in flow records, {ip} decoded IP packets")
    check(len(recs) == c["flow.total"], f"{len(recs)} records, flow.total {c['flow.total']}")
    reasons = np.bincount(recs["reason"], minlength=8).tolist() if len(recs) else [0] * 8
    for reason, name in REASON_COUNTERS.items():
        check(reasons[reason] == c[name],
              f"{reasons[reason]} records with reason {reason}, counter {name} {c[name]}")
    check(reasons[5] <= c["flow.wrk.flows_evicted"],
          f"{reasons[5]} forced records, flows_evicted {c['flow.wrk.flows_evicted']}")
    states = np.bincount(recs["state"], minlength=4).tolist() if len(recs) else [0] * 4
    for state, name in STATE_COUNTERS.items():
        check(states[state] == c[name],
              f"{states[state]} records in state {state}, counter {name} {c[name]}")
    arp = c.get("wirescore.arp_requests", 0) + c.get("wirescore.arp_replies", 0)
    check(arp <= nonip, f"{arp} good ARP frames of {nonip} non-IP frames")
    for name in ("wirescore.arp_binding_changes", "wirescore.arp_senders_replaced",
                 "wirescore.arp_bindings_replaced"):
        check(c.get(name, 0) <= arp, f"{name} {c.get(name)} beyond {arp} ARP frames")
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
    if "report_us" in (recs.dtype.names or ()):
        # the packet clock when written: never before the flow's last packet, and never
        # back in time from one record to the next (detection orders evidence by it)
        bad["reported before its last packet"] = recs["report_us"] < recs["end_us"]
        bad["reported earlier than the record before"] = np.concatenate(
            [[False], np.diff(recs["report_us"]) < 0])
    if "ctx_src_unanswered_hosts" in (recs.dtype.names or ()):   # core 0019099 on
        for name in ("ctx_src_unanswered_hosts", "ctx_src_unanswered_services"):
            # linear counting over 128 bits: 0 .. 128 ln 128 (621.06)
            bad[f"{name} outside [0, 621.1]"] = ~((recs[name] >= 0) & (recs[name] <= 621.1))
    if "ctx_dst_unanswered_srcs" in (recs.dtype.names or ()):     # core of stop 12 on
        bad["ctx_dst_unanswered_srcs outside [0, 621.1]"] = ~(
            (recs["ctx_dst_unanswered_srcs"] >= 0) & (recs["ctx_dst_unanswered_srcs"] <= 621.1))
        # the unanswered share of the around counts: never more than the count it qualifies
        for part, whole in (("ctx_src_unanswered_new_dsts_around", "ctx_src_new_dsts_around"),
                            ("ctx_src_unanswered_new_ports_around", "ctx_src_new_ports_around"),
                            ("ctx_dst_unanswered_new_ports_around", "ctx_dst_flows_around")):
            bad[f"{part} negative or beyond {whole}"] = (recs[part] < 0) | (
                recs[part] > recs[whole])
    if "quiet_dst_unanswered_srcs" in (recs.dtype.names or ()):   # quiet scan counts on
        for name in ("src_unanswered_hosts", "src_unanswered_services",
                     "dst_unanswered_srcs"):
            # read by the same scan tables when the flow went quiet
            bad[f"quiet_{name} outside [0, 621.1]"] = ~(
                (recs["quiet_" + name] >= 0) & (recs["quiet_" + name] <= 621.1))
    if "bad_flags_toserver" in (recs.dtype.names or ()):          # core 75d5b34 on
        for d in ("toserver", "toclient"):
            # crafted-flag packets are TCP packets of that direction
            bad[f"bad_flags_{d} beyond the direction's packets, or not TCP"] = (
                recs[f"bad_flags_{d}"] > recs[f"pkts_{d}"]) | (
                (recs["proto"] != 6) & (recs[f"bad_flags_{d}"] > 0))
    for what, mask in bad.items():
        if mask.any():
            n = int(np.flatnonzero(mask)[0])
            r = recs[n]
            raise FuzzFailure(f"record {n} (proto {int(r['proto'])}, reason {int(r['reason'])}, "
                              f"state {int(r['state'])}): {what}")


def _check_context_tables(recs, cnt, options: dict) -> None:
    """The context tables replace nothing while their keys fit (clock.pxd: every row is
    used before one is reused): the flows' hosts in context_hosts rows, their pairs and
    (client or server, protocol, port) keys in twice as many, their histories in a
    quarter as many."""
    if not (FILLS_FIRST and options.get("context") and len(recs)):
        return
    c = dict(zip(NAMES, cnt.tolist()))
    rows = options.get("context_hosts", 65536)
    v = recs["ip_version"].astype(np.uint8)[:, None]
    src = np.hstack([v, recs["src_addr"]])
    dst = np.hstack([v, recs["dest_addr"]])
    ported = np.isin(recs["proto"], (6, 17, 132))
    service = np.hstack([recs["proto"][:, None], recs["dest_port"][:, None] >> 8,
                         recs["dest_port"][:, None] & 0xFF]).astype(np.uint8)
    side = np.zeros((len(recs), 1), dtype=np.uint8)
    count = {
        "host": len(np.unique(np.vstack([src, dst]), axis=0)),
        "pair": len(np.unique(np.hstack([src, recs["dest_addr"]]), axis=0)),
        "port": len(np.unique(np.vstack([np.hstack([side, src, service])[ported],
                                         np.hstack([side + 1, dst, service])[ported]]),
                              axis=0)),
    }
    count["hist"] = count["host"]
    room = {"host": rows, "pair": 2 * rows, "port": 2 * rows, "hist": rows >> 2}
    for table, keys in count.items():
        replaced = c[f"wirescore.ctx_{table}_replaced"]
        check(keys > room[table] or replaced == 0,
              f"{replaced} {table} keys replaced with {keys} keys in {room[table]} rows")


RATIOS = ("syn_ratio", "synack_ratio", "rst_ratio", "fin_ratio", "unreach_ratio", "tcp_ratio",
          "udp_ratio", "icmp_ratio")
DISTINCT = ("distinct_dsts", "distinct_dports", "distinct_srcs")


def _check_windows(w: np.ndarray, cnt, keys, seconds: float, max_keys: int) -> None:
    """Window records: every IP packet in exactly one window of each key kind (or counted
    as dropped), at most max_keys records per kind and window, and each record's values
    in range."""
    ip = int(cnt[IX["wirescore.decoded_ip"]])
    dropped = int(cnt[IX["wirescore.window_keys_dropped"]])
    kinds = {"all": 0, "src": 1, "dst": 2}
    per_kind = np.bincount(w["kind"], weights=w["packets"], minlength=3).tolist() \
        if len(w) else [0.0] * 3
    summed = sum(int(per_kind[kinds[k]]) for k in keys)
    check(summed + dropped == ip * len(keys),
          f"window records hold {summed} packets (+{dropped} dropped) for {ip} IP packets "
          f"and keys {keys}")
    if "all" in keys and ip:
        check(int(per_kind[0]) == ip, "the 'all' window lost packets")
    if not len(w):
        return
    length = int(seconds * 1e6)
    _kinds, per_window = np.unique(np.stack([w["kind"].astype(np.int64), w["start_us"]]),
                                   axis=1, return_counts=True)
    check(int(per_window.max()) <= max_keys,
          f"{int(per_window.max())} records in one window of a kind, table of {max_keys}")
    ratios = np.stack([w[name] for name in RATIOS])
    distinct = np.stack([w[name] for name in DISTINCT])
    bad = {
        "no packet": w["packets"] < 1,
        "length": (w["end_us"] - w["start_us"]) != length,
        "start not on the window grid": w["start_us"] % length != 0,
        "kind": ~np.isin(w["kind"], [kinds[k] for k in keys]),
        "ratio outside [0, 1]": ~((ratios >= 0) & (ratios <= 1)).all(axis=0),
        "distinct count": ~((distinct >= 0) & (distinct <= 256 * np.log(256) + 1e-6)).all(axis=0),
        "entropy": ~((w["dport_entropy"] >= 0) & (w["dport_entropy"] <= 5.0 + 1e-9)),
    }
    if "bad_flags" in (w.dtype.names or ()):                         # core 75d5b34 on
        bad["bad_flags beyond the TCP packets"] = ~(
            (w["bad_flags"] >= 0) & (w["bad_flags"] <= w["packets"] * w["tcp_ratio"] + 1e-6))
    for what, mask in bad.items():
        if mask.any():
            n = int(np.flatnonzero(mask)[0])
            raise FuzzFailure(f"window record {n} (kind {int(w['kind'][n])}): {what}: "
                              f"{w[n]}")


def _match(hay: np.ndarray, needles: np.ndarray, starts: np.ndarray | None = None) -> tuple:
    """The greedy in-order match of needles in hay (int64 keys): each needle at the first
    equal key past the previous needle's match (past nothing at a True in `starts`: runs
    matched independently). Returns (positions, -1), or (None, the first needle without
    a match). Unique keys in hay (the usual case): one candidate per needle, found by
    searchsorted; else list.index() from the previous match."""
    if not len(needles):
        return np.zeros(0, dtype=np.intp), -1
    if not len(hay):
        return None, 0
    order = np.argsort(hay, kind="stable")
    sk = hay[order]
    if len(sk) < 2 or bool((sk[1:] != sk[:-1]).all()):
        pos = np.minimum(np.searchsorted(sk, needles), len(sk) - 1)
        g = order[pos]
        ok = sk[pos] == needles
        later = g[1:] > g[:-1]
        ok[1:] &= later if starts is None else later | starts[1:]
        bad = np.flatnonzero(~ok)
        return (g, -1) if not len(bad) else (None, int(bad[0]))
    hl, k, out = hay.tolist(), 0, []
    restart = starts.tolist() if starts is not None else [False] * len(needles)
    for i, x in enumerate(needles.tolist()):
        try:
            k = hl.index(x, 0 if restart[i] else k)
        except ValueError:
            return None, i
        out.append(k)
        k += 1
    return np.asarray(out, dtype=np.intp), -1


def _content_ids(fed: Fed, data: bytes, caplens: np.ndarray) -> np.ndarray:
    """The content id of each frame laid end to end in data (-1: no frame fed has it)."""
    ends = np.cumsum(caplens).tolist()
    return np.array([fed.ids.get(data[a:b], -1) for a, b in zip([0] + ends[:-1], ends)],
                    dtype=np.int64)


def _keys(ts: np.ndarray, cid: np.ndarray) -> np.ndarray:
    """(time << 10) | content id: one int64 per frame (times < 2**53 us, ids < 1024);
    -1 for an unknown content, which no frame fed has."""
    return np.where(cid >= 0, (ts << 10) | np.maximum(cid, 0), -1)


def _ring_frames(fed: Fed, data: bytes, m: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The content id of each ring frame, checking that the ring's frames are a run of the
    frames fed, in order, each with its time and bytes: the greedy match on (time,
    content). When every frame fed has its own time, the time alone finds the one
    candidate, whose length and bytes must then agree (no per-frame Python)."""
    n = len(m)

    def fail(i: int):
        end = int(m[:i + 1, 2].sum())
        frame = data[end - int(m[i, 2]):end]
        raise FuzzFailure(f"ring frame {i} ({len(frame)} bytes at {int(ts[i])}) is not a frame "
                          f"fed, in order: {frame[:40].hex()}")

    if not n:
        return np.zeros(0, dtype=np.int64)
    st = np.sort(fed.ts)
    if len(st) < 2 or bool((st[1:] != st[:-1]).all()):
        g, bad = _match(fed.ts, ts)
        if g is not None:
            rcid = fed.cid[g]
            if (fed.lens[g] == m[:, 2]).all() and \
                    b"".join([fed.contents[c] for c in rcid.tolist()]) == data:
                return rcid
    rcid = _content_ids(fed, data, m[:, 2])
    g, bad = _match(_keys(fed.ts, fed.cid), _keys(ts, rcid))
    if g is None:
        fail(bad)
    return rcid


def _ring_bounds(meter, ip: int):
    """ring_between() over all time: (bytes, meta rows, meta as int64), checked to fit
    the ring's bytes and slots, to hold no more frames than IP packets were decoded, and
    bytes to match the rows' caplens."""
    data, meta = meter.ring_between(*RING_ALL)
    n = len(meta)
    m = meta.astype(np.int64).reshape(n, RING_COLS)
    check(len(data) == int(m[:, 2].sum()), "ring_between(): bytes and caplens disagree")
    check(len(data) <= RING_BYTES and n <= RING_BYTES // 64,
          f"ring holds {n} frames, {len(data)} bytes")
    check(n <= ip, f"ring holds {n} frames of {ip} IP packets")
    return data, meta, m


def _check_ring(meter, fed: Fed, recs, ip: int, linktype: int, w, pick: int) -> None:
    """The packet ring holds, oldest first, a run of the frames fed (same bytes, times),
    within its bytes and slots; every IP frame while nothing had to be dropped; a flow's
    frames (ring_flow) are a run of the ring's, in order (same bytes and meta rows);
    ring_key() selects exactly the frames of its address and time span
    (_check_ring_key)."""
    data, meta, m = _ring_bounds(meter, ip)
    n = len(meta)
    if ip and fed.total_bytes:
        check(n >= 1, "empty ring after IP packets")
    if fed.total_bytes <= RING_BYTES and ip <= RING_BYTES // 64:
        check(n == ip, f"ring lost frames: {n} of {ip} without any wrap")
    short = np.flatnonzero(m[:, 3] < m[:, 2])
    if len(short):
        raise FuzzFailure(f"ring frame {int(short[0])}: wire_len < caplen")
    check((m[:, 4] == linktype).all(), "ring frame with another link type than fed")
    ts = m[:, 0] * 1_000_000 + m[:, 1]
    rcid = _ring_frames(fed, data, m, ts)
    _check_ring_flows(meter, fed, recs, m, ts, rcid)
    if HAS_RING_KEY:
        _check_ring_key(meter, linktype, fed, meta, ts, rcid, w, pick)


def _check_ring_flows(meter, fed: Fed, recs, m, ts, rcid) -> None:
    """ring_flow() of the first 8 records: each a run of the ring's frames, in order, with
    the same bytes and meta rows (all flows matched at once, each run on its own)."""
    fids = recs["flow_id"][:8].tolist()
    got = [meter.ring_flow(fid) for fid in fids]
    if not got:
        return
    sizes = [len(fm) for _d, fm in got]
    fm = np.concatenate([fm for _d, fm in got]).astype(np.int64).reshape(-1, RING_COLS)
    caps = np.concatenate(([0], np.cumsum(fm[:, 2]))).tolist()
    first = np.cumsum([0] + sizes).tolist()             # where each flow's frames start
    for k, (fdata, _fm) in enumerate(got):
        check(len(fdata) == caps[first[k + 1]] - caps[first[k]],
              f"ring_flow({fids[k]}): bytes and caplens disagree")
    if not len(fm):
        return
    starts = np.zeros(len(fm) + 1, dtype=bool)
    starts[first[:-1]] = True
    fdata = b"".join(d for d, _m in got)
    g, bad = _match(_keys(ts, rcid), _keys(fm[:, 0] * 1_000_000 + fm[:, 1],
                                          _content_ids(fed, fdata, fm[:, 2])), starts[:len(fm)])
    if g is not None:
        rows = np.flatnonzero((fm != m[g]).any(axis=1))
        bad = int(rows[0]) if len(rows) else -1
    if bad >= 0:
        k = int(np.searchsorted(first, bad, side="right")) - 1
        raise FuzzFailure(f"ring_flow({fids[k]}) frame {bad - first[k]} is not a frame of the "
                          f"ring, in order, with its meta row {fm[bad].tolist()}")


# ring_key() arguments it must refuse (ValueError), whatever the ring holds: side not 1/2,
# a key shorter than its version's address, a version not 4 or 6. They do not depend on
# the input: tried on the first meter with a ring in the process.
BAD_RING_KEY_ARGS = ((0, b"\x7f\0\0\1", 4), (3, b"\x7f\0\0\1", 4), (1, b"\x7f\0\1", 4),
                     (2, b"\x7f\0\0\1", 6), (1, bytes(16), 5), (2, b"", 4))
RING_ALL = (0.0, float(1 << 34))                   # every time a frame can have
_BAD_ARGS_TRIED = False


def _check_ring_key(meter, linktype, fed: Fed, meta, ts, rcid, w, pick: int) -> None:
    """FlowMeter.ring_key(side, key, version, start, end) returns, oldest first, exactly
    the ring's frames (as ring_between() lists them: bytes and meta rows) that
      - lie in [start_us, end_us), where start_us / end_us are the seconds given as the
        core converts them, <int64_t>(s * 1e6) (truncation: int(s * 1e6) here);
      - decode (decode_one(): the decoder the core runs again on the ring's bytes) to IP
        of `version` whose source (side 1) or destination (side 2) address equals key
        (4 bytes for IPv4, 16 for IPv6).
    Queried per input: the source of one ring frame over all times; the destination of
    another within the time span between the two (end excluded); with windows on, a
    src/dst window record's key and span as the engine asks for its alert snippet
    (engine._key_packets), else the first key as the other IP version. Bad arguments
    raise. And every frame in the ring decodes to IPv4 or IPv6 again."""
    global _BAD_ARGS_TRIED
    if not _BAD_ARGS_TRIED:
        for args in BAD_RING_KEY_ARGS:
            try:
                meter.ring_key(*args, *RING_ALL)
            except (ValueError, TypeError):
                continue
            raise FuzzFailure(f"ring_key{args + RING_ALL} accepted bad arguments")
        _BAD_ARGS_TRIED = True
    n = len(rcid)
    dec = {c: _decoded(linktype, fed.contents[c]) for c in set(rcid.tolist())}
    for c, (is_ip, ver, _s, _d) in dec.items():
        if not (is_ip and ver in (4, 6)):
            i = int(np.flatnonzero(rcid == c)[0])
            raise FuzzFailure(f"ring frame {i} does not decode to IPv4/IPv6 again "
                              f"({'IP version ' + str(ver) if is_ip else 'not IP'}): "
                              f"{fed.contents[c][:40].hex()}")
    queries = []
    if n:
        a, b = pick % n, (pick >> 12) % n
        da, db = dec[int(rcid[a])], dec[int(rcid[b])]
        queries.append((1, da[2], da[1], *RING_ALL))
        lo, hi = sorted((int(ts[a]), int(ts[b])))
        queries.append((2, db[3], db[1], lo / 1e6, hi / 1e6))
    keyed = np.flatnonzero(w["kind"] != 0) if w is not None and len(w) else ()
    if len(keyed):
        r = w[int(keyed[pick % len(keyed)])]
        version = int(r["ip_version"])
        queries.append((int(r["kind"]), bytes(r["addr"][:4 if version == 4 else 16]), version,
                        int(r["start_us"]) / 1e6, int(r["end_us"]) / 1e6))
    elif n:
        other = 6 if da[1] == 4 else 4
        queries.append((2 - (pick & 1), (da[2] + bytes(16))[:4 if other == 4 else 16], other,
                        *RING_ALL))
    else:
        queries.append((1, b"\x7f\0\0\1", 4, *RING_ALL))
    for side, key, version, start, end in queries:
        s_us, e_us = int(start * 1e6), int(end * 1e6)
        alen = 4 if version == 4 else 16
        hits = [c for c, d in dec.items() if d[1] == version and d[1 + side][:alen] == key[:alen]]
        want = np.flatnonzero(np.isin(rcid, hits) & (ts >= s_us) & (ts < e_us))
        got_data, got_meta = meter.ring_key(side, key, version, start, end)
        exp_meta = meta[want]
        exp_data = b"".join([fed.contents[c] for c in rcid[want].tolist()])
        if got_meta.shape != exp_meta.shape or not np.array_equal(got_meta, exp_meta) or \
                got_data != exp_data:
            raise FuzzFailure(
                f"ring_key({side}, {key.hex()}, {version}, {start!r}, {end!r}): "
                f"{len(got_meta)} frames ({len(got_data)} bytes), the ring holds {len(want)} "
                f"such frames ({len(exp_data)} bytes) of {n}: "
                f"{'same count, other frames' if len(got_meta) == len(want) else 'count'}")


# memos of pure functions of their key, for the parts of a check that repeat across inputs
# (libFuzzer mutates a few bytes at a time: most frames and records come back); each is
# emptied when full (sizes: at most ~50 MB each with ASAN's overhead)
_DECODED: dict = {}          # (linktype, frame) -> (is IP, ipver, src, dst) by decode_one()
_PY_LINES: dict = {}         # (record bytes, alerted) -> the Python formatter's EVE line
_JSON_OK: set = set()        # EVE lines json.loads() read as a flow event
DECODED_MAX, PY_LINES_MAX, JSON_OK_MAX = 4096, 16384, 16384


def _decoded(linktype: int, frame: bytes) -> tuple:
    """decode_one(frame, linktype) as (is IP, ipver, src, dst), memoised."""
    key = (linktype, frame)
    got = _DECODED.get(key)
    if got is None:
        result, fields, _cnt = _decode.decode_one(_exact(frame), linktype)
        got = (result == "ip", fields["ipver"], fields["src"], fields["dst"])
        if len(_DECODED) >= DECODED_MAX:
            _DECODED.clear()
        _DECODED[key] = got
    return got


_PY_FORMATTER = None


def _py_lines(recs, alerted) -> list:
    """The Python FlowEventFormatter's EVE line (bytes, no newline) for each record. The
    formatter is a function of the record and its alerted flag alone, so lines are
    memoised on the record's bytes and the flag."""
    global _PY_FORMATTER
    if _PY_FORMATTER is None:
        from wirescore.outputs.eve import FlowEventFormatter, _dumps
        _PY_FORMATTER = (FlowEventFormatter(), _dumps)
    formatter, dumps = _PY_FORMATTER
    if not len(recs):
        return []
    raw = recs.view(np.dtype((np.void, recs.dtype.itemsize))).tolist()
    keys = list(zip(raw, alerted.tolist() if alerted is not None else [False] * len(raw)))
    lines = [_PY_LINES.get(key) for key in keys]
    miss = [i for i, line in enumerate(lines) if line is None]
    if miss:
        idx = np.asarray(miss, dtype=np.intp)
        events = formatter.events(recs[idx], None if alerted is None else alerted[idx])
        if len(_PY_LINES) + len(miss) > PY_LINES_MAX:
            _PY_LINES.clear()
        for i, ev in zip(miss, events):
            lines[i] = _PY_LINES[keys[i]] = dumps(ev).encode()
    return lines


def _check_eve(recs, flags) -> None:
    """format_flows(): one line per record, ending in a newline; the first PY_COMPARE
    byte-identical to the Python formatter's (each a json.dumps of a flow event, so a
    JSON flow event), every further one a JSON object with event_type "flow"."""
    recs = np.ascontiguousarray(recs)
    alerted = None
    if flags & 0x40 and len(recs):
        alerted = (np.arange(len(recs)) % 3 == 0)
    out = _eve.format_flows(recs, alerted=alerted)
    check(isinstance(out, bytes), "format_flows did not return bytes")
    check(out == b"" or out.endswith(b"\n"), "EVE output does not end with a newline")
    lines = out.split(b"\n")[:-1] if out else []
    check(len(lines) == len(recs), f"{len(lines)} EVE lines for {len(recs)} records")
    k = min(len(recs), PY_COMPARE)
    py = _py_lines(recs[:k], None if alerted is None else alerted[:k])
    for n in range(k):
        if lines[n] != py[n]:
            raise FuzzFailure(f"C and Python EVE lines differ at record {n}:\n  C:  "
                              f"{lines[n]!r}\n  Py: {py[n]!r}")
    for n in range(k, len(lines)):
        line = lines[n]
        if line in _JSON_OK:
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise FuzzFailure(f"EVE line {n} is not JSON ({exc}): {line[:300]!r}") from None
        check(isinstance(event, dict) and event.get("event_type") == "flow",
              f"EVE line {n}: event_type")
        if len(_JSON_OK) >= JSON_OK_MAX:
            _JSON_OK.clear()
        _JSON_OK.add(line)


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

_RUNS = {"n": 0, "file": os.environ.get("WIRESCORE_FUZZ_COUNT", "")}
DIFF = os.environ.get("WIRESCORE_FUZZ_DIFF", "") not in ("", "0")
LEAN = os.environ.get("WIRESCORE_FUZZ_LEAN", "") not in ("", "0")


def count_input() -> None:
    """Count one input; every 1000th, write the count where the long run reads it."""
    _RUNS["n"] += 1
    if _RUNS["file"] and _RUNS["n"] % 1000 == 0:      # the long run's live input count
        Path(_RUNS["file"]).write_text(str(_RUNS["n"]))


def entry(run_one):
    """atheris' TestOneInput for a target whose input is one call of run_one(data): the
    input counted (count_input), then run."""
    def test_one_input(data: bytes) -> None:
        count_input()
        run_one(data)
    return test_one_input


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    count_input()
    if LEAN:
        run_lean(data)
    else:
        run_one(data, diff=DIFF)


def main(argv: list[str], test_one_input=TestOneInput) -> None:
    import atheris

    # libFuzzer re-executes argv[0] for -minimize_crash, -fork and -jobs; run.py points it
    # at a shell wrapper that starts this interpreter on this file (a .py is not a program)
    argv = [os.environ.get("WIRESCORE_FUZZ_ARGV0", argv[0]), *argv[1:]]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
