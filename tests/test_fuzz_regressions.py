"""What the fuzzer (tests/fuzz/) found, replayed on every test run with the installed core.

- Every input in tests/data/fuzz-regressions/ goes through the fuzz target's checks
  (tests/fuzz/fuzz_core.run_one); inputs named diff-* also through the differential check
  against tests/flowref.py. Under ASAN, replay them with `python tests/fuzz/run.py repro
  FILE` (tests/fuzz/README.md).
- The seed corpus (tests/fuzz/seeds/) passes every check, so the harness cannot rot.
- The checks themselves fail on a core that loses a record (a negative control).
- Defects found while fuzzing that the input format cannot express, each with its own test.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import fuzz_core  # noqa: E402

REGRESSIONS = REPO / "tests" / "data" / "fuzz-regressions"
SEEDS = REPO / "tests" / "fuzz" / "seeds"


def regression_inputs() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if p.is_file() and p.suffix == ".bin") \
        if REGRESSIONS.is_dir() else []


@pytest.mark.parametrize("path", regression_inputs(), ids=lambda p: p.name)
def test_regression_input(path):
    fuzz_core.run_one(path.read_bytes(), diff=path.name.startswith("diff-"))
    fuzz_core.run_lean(path.read_bytes())          # the long run's mode (run.py --lean)


def test_lean_mode_passes_the_seeds_and_feeds_what_the_full_mode_feeds():
    """run_lean() plays each seed through the same meter options and frames as run_one():
    the same flows and decoded packets come out."""
    for path in sorted(SEEDS.iterdir()):
        data = path.read_bytes()
        full, lean = fuzz_core.run_one(data), fuzz_core.run_lean(data)
        flags = data[1] if len(data) > 1 else 0
        if flags & 2:            # full mode: one buffer per frame (lean: batches)
            assert lean["decoded_ip"] == full["decoded_ip"], path.name
        else:
            assert lean == full, path.name


def test_seed_corpus_passes_every_check():
    seeds = sorted(SEEDS.iterdir())
    assert len(seeds) >= 50, f"seed corpus missing or thin ({len(seeds)} files in {SEEDS})"
    flows = 0
    for path in seeds:
        flows += fuzz_core.run_one(path.read_bytes(), diff=True).get("flows", 0)
    assert flows > 500                       # the seeds do reach the flow table


def test_every_link_type_of_the_contract_has_seeds():
    kinds = {fuzz_core.parse(p.read_bytes())[0] for p in SEEDS.iterdir()}
    assert {1, 113, 276, 12, 101, 228, 229, 0, 108, 239, 9, 50, 104} <= kinds


def test_input_format_round_trips():
    frames = [(1, b"\x45" * 30), (120, b""), (250, b"x" * 300)]
    data = fuzz_core.build(239, 0x5A, 3, 0x61, frames)
    linktype, flags, tsel, msel, parsed = fuzz_core.parse(data)
    assert (linktype, flags, tsel, msel) == (239, 0x5A, 3, 0x61)
    assert [f for _s, _u, f in parsed] == [f for _c, f in frames]


_REAL_METER = fuzz_core._ft.FlowMeter


class _LosingMeter:
    """A FlowMeter whose drain() loses the first record of every non-empty batch."""

    def __init__(self, *args, **kwargs):
        self._m = _REAL_METER(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._m, name)

    def drain(self):
        recs = self._m.drain()
        return recs[1:] if len(recs) else recs


def test_checks_catch_a_core_that_loses_a_flow(monkeypatch):
    """Negative control: the packets-in-flows and records-per-flow checks fire."""
    seed = (SEEDS / "tcp-conversation-0").read_bytes()
    fuzz_core.run_one(seed)
    import types
    fake = types.SimpleNamespace(FlowMeter=_LosingMeter, COUNTER_NAMES=fuzz_core.NAMES,
                                 RECORD_DTYPE=fuzz_core.RECORD_DTYPE)
    monkeypatch.setattr(fuzz_core, "_ft", fake)
    with pytest.raises(fuzz_core.FuzzFailure, match="packets in flow records|records, flow.total"):
        fuzz_core.run_one(seed)
    with pytest.raises(fuzz_core.FuzzFailure, match="packets in flow records|records, flow.total"):
        fuzz_core.run_lean(seed)


class _WrongRingKeyMeter(_LosingMeter):
    """A FlowMeter whose ring_key() gets the contract wrong in one way (`fault`)."""

    fault = ""

    def drain(self):
        return self._m.drain()

    def ring_key(self, side, key, version, start, end):
        if self.fault == "other side" and side in (1, 2):
            side = 3 - side
        elif self.fault == "no address filter" and side in (1, 2) and version in (4, 6):
            return self._m.ring_between(start, end)
        elif self.fault == "last frame lost" and side in (1, 2) and version in (4, 6) and \
                len(key) >= (4 if version == 4 else 16):
            data, meta = self._m.ring_key(side, key, version, start, end)
            return (data[:len(data) - int(meta[-1, 2])], meta[:-1]) if len(meta) else (data, meta)
        return self._m.ring_key(side, key, version, start, end)


@pytest.mark.parametrize("fault", ["other side", "no address filter", "last frame lost"])
def test_checks_catch_a_ring_key_that_picks_other_frames(monkeypatch, fault):
    """Negative control for the ring_key() check: a TCP conversation (both directions)
    played through the ring, against a ring_key() that selects by the other address,
    by time alone, or loses a frame."""
    if not fuzz_core.HAS_RING_KEY:
        pytest.skip("the core has no FlowMeter.ring_key")
    seed = (SEEDS / "tcp-conversation-1").read_bytes()       # ring on, played 32 times
    assert seed[3] & 0x80
    fuzz_core.run_one(seed)
    import types
    fake = types.SimpleNamespace(**{k: getattr(fuzz_core._ft, k) for k in dir(fuzz_core._ft)
                                    if not k.startswith("__")})
    fake.FlowMeter = type("Meter", (_WrongRingKeyMeter,), {"fault": fault})
    monkeypatch.setattr(fuzz_core, "_ft", fake)
    with pytest.raises(fuzz_core.FuzzFailure, match=r"ring_key\("):
        fuzz_core.run_one(seed)


class _EarlyReplacingMeter(_LosingMeter):
    """A FlowMeter whose context replaced a host while its table had room (the 4-way
    sets of the core before clock.pxd did: five hosts in one set)."""

    def drain(self):
        return self._m.drain()

    @property
    def counters(self):
        c = self._m.counters
        c[fuzz_core.IX["wirescore.ctx_host_replaced"]] += 1
        return c


def test_checks_catch_context_replaced_while_it_had_room(monkeypatch):
    """Negative control for the context tables' check: 16 hosts (eight UDP flows, none
    sharing an endpoint) in context_hosts=16 rows must replace nothing."""
    if not fuzz_core.FILLS_FIRST:
        pytest.skip("the core's context tables may replace before they are full")
    from test_core import _frame

    frames = [(0, _frame((10, 0, 0, 1 + i), (10, 0, 1, 1 + i), 1000, 53, None, 17))
              for i in range(8)]
    data = fuzz_core.build(1, 0, 0, 0x64, frames)      # context on, 16 hosts, 7 flows
    fuzz_core.run_lean(data)
    import types
    fake = types.SimpleNamespace(**{k: getattr(fuzz_core._ft, k) for k in dir(fuzz_core._ft)
                                    if not k.startswith("__")})
    fake.FlowMeter = _EarlyReplacingMeter
    monkeypatch.setattr(fuzz_core, "_ft", fake)
    with pytest.raises(fuzz_core.FuzzFailure, match="1 host keys replaced with 16 keys in 16"):
        fuzz_core.run_lean(data)


# ---- defects found while fuzzing, outside the input format --------------------------------

def test_ipv6_later_fragment_is_not_walked_as_extension_headers():
    """RFC 8200 4.5: the Next Header of a fragment header with offset > 0 names the first
    header of the fragmentable part, which this fragment does not start with. The core
    walks on into the fragment's data, so a valid later fragment becomes
    decoder.event.ipv6.trunc_exthdr (or gets a protocol read from its payload).
    Found by the differential fuzz run (tests/data/fuzz-regressions/
    diff-ipv6-later-fragment-walk.bin); the reference (tests/flowref.py) stops the walk."""
    from wirescore._core.decode import decode_one

    frag = bytes([60, 0]) + struct.pack(">HI", (1 << 3) | 1, 77)    # offset 8, more, id 77
    data = bytes([6, 200]) + bytes(30)     # fragment data that looks like a long header
    ip6 = struct.pack(">IHBB", 0x60000000, len(frag) + len(data), 44, 64) + \
        bytes(15) + b"\x01" + bytes(15) + b"\x02" + frag + data
    result, fields, counters = decode_one(ip6, 229)
    assert result == "ip", f"a later IPv6 fragment decoded as {result}"
    assert fields["frag"] == 2 and fields["proto"] == 60 and fields["ip_id"] == 77


def test_feed_of_an_empty_buffer_counts_empty_frames():
    """ubsan-empty-batch-null-base.bin: a batch whose frames are all empty comes as a
    0-byte buffer; feed() counts each as a frame too small for its link type (it used a
    NULL base address, undefined behaviour that UBSan reported)."""
    meter = fuzz_core._ft.FlowMeter(1, max_flows=4, out_capacity=64, frag_slots=1)
    rows = np.array([[1_600_000_000, 0, 0, 0]] * 3, dtype=np.uint32)
    assert meter.feed(np.empty(0, dtype=np.uint8), rows) == 3
    c = dict(zip(fuzz_core.NAMES, meter.counters.tolist()))
    assert c["decoder.pkts"] == 3 and c["decoder.invalid"] == 3
    assert c["wirescore.decoded_ip"] == 0


def test_feed_refuses_a_negative_start():
    """FlowMeter.feed(data, meta, start) indexes meta from `start` without a check: a
    negative start reads before the meta buffer (ASAN: heap-buffer-overflow in
    FlowMeter._feed). It must raise instead. Run in a child: it may crash."""
    code = textwrap.dedent("""
        import numpy as np
        from wirescore._core.flowtable import FlowMeter
        m = FlowMeter(1, max_flows=16)
        data = np.zeros(100, dtype=np.uint8)
        meta = np.array([[1, 0, 0, 60]], dtype=np.uint32)
        try:
            r = m.feed(data, meta, -1)
        except (ValueError, IndexError) as exc:
            print("raised", type(exc).__name__)
        else:
            print("returned", r)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.startswith("raised"), \
        f"feed(start=-1): {proc.stdout.strip() or proc.stderr[-500:]} (exit {proc.returncode})"


def test_feed_start_past_the_end_is_harmless():
    from wirescore._core.flowtable import FlowMeter

    m = FlowMeter(1, max_flows=16)
    meta = np.array([[1, 0, 0, 60]], dtype=np.uint32)
    assert m.feed(np.zeros(100, dtype=np.uint8), meta, 5) in (1, 5)
    assert m.counters[0] == 0                              # no packet was read
