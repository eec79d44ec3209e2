"""A quiet link's last traffic window is reported when the clock passes its end, not at
the next packet (FlowMeter.expire closes it; MeterStage.expire hands its records to the
window stage).

The capture: the first 19 packets of ndpi-synscan.pcap, 18 bare SYNs from one scanner to
18 ports and one answer, all in one second of packet time: beyond window-source-extreme's
floor of 16 ports probed in one second. The profile is the shipped one without `evidence:
early`, so that only the closed window can alert (with it, the scanner's 16th packet's
early record alerts first).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import FIXTURES, REPO
from wirescore._core.flowtable import FlowMeter
from wirescore.capture import open_source

SCAN = FIXTURES / "ndpi-synscan.pcap"
PACKETS = 19


def prefix_batch():
    """(data, meta rows of the first PACKETS packets, linktype) of the scan capture."""
    source = open_source(str(SCAN))
    data, meta, linktype = next(iter(source.batches(prefetch=0)))
    return data, np.ascontiguousarray(meta[:PACKETS]), linktype


def windowed(linktype):
    return FlowMeter(linktype, context=False, window_seconds=1.0,
                     window_keys=("src", "dst"))


def test_expire_closes_the_window_once_its_end_has_passed():
    data, meta, linktype = prefix_batch()
    last = float(meta[-1, 0]) + meta[-1, 1] / 1e6
    end = float(meta[0, 0]) + 1.0                      # windows are whole seconds here
    assert int(meta[-1, 0]) == int(meta[0, 0])         # one window holds them all

    meter, twin = windowed(linktype), windowed(linktype)
    for m in (meter, twin):
        assert m.feed(data, meta) == PACKETS
        assert len(m.drain_windows()) == 0
    assert meter.expire(last + 0.01)
    assert len(meter.drain_windows()) == 0             # still inside the window
    assert meter.expire(end)
    got = meter.drain_windows()
    twin.close_window()
    want = twin.drain_windows()
    assert len(want) >= 2 and got.tobytes() == want.tobytes()
    assert meter.expire(end + 5.0)
    assert len(meter.drain_windows()) == 0             # closed once
    meter.close_window()
    assert len(meter.drain_windows()) == 0


def test_a_window_alert_on_a_quiet_pipe_comes_before_the_next_packet(tmp_path):
    """wirescore reading a pipe that goes quiet after the scan: the window alert is in
    eve.json while the pipe is still open (the pipe's clock runs on the wall clock once
    it is quiet, capture.py); the run is ended only after it is found."""
    raw = SCAN.read_bytes()
    data, meta, _ = prefix_batch()
    end = int(meta[-1, 2]) + int(meta[-1, 3])          # offset + caplen of the last packet
    # the capture's own bytes up to the last packet's end (24-byte header, 16-byte
    # record headers before each packet): a pcap file cut after PACKETS packets
    assert raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    logs = tmp_path / "logs"
    rules = tmp_path / "window-source-closed.yaml"
    shipped = (REPO / "rules" / "window-source-extreme.yaml").read_text()
    assert "\nevidence: early" in shipped
    rules.write_text(shipped.replace("\nevidence: early", "\n"))
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "-q", "run", "-r", "-",
                             "-l", str(logs), "--rules", str(rules)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(_cut_pcap(raw, PACKETS))
        proc.stdin.flush()
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            time.sleep(0.2)
            eve = logs / "eve.json"
            if eve.exists():
                for line in eve.read_text().splitlines():
                    ev = json.loads(line)
                    if (ev["event_type"] == "alert"
                            and ev["alert"]["signature_id"] == 9100102):
                        found = ev
        assert proc.poll() is None, "the run ended before the pipe was closed"
        assert found is not None, "no window alert while the pipe was open and quiet"
        assert found["src_ip"] == "172.16.0.8"
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read().decode()
    assert end <= len(raw)


def _cut_pcap(raw: bytes, packets: int) -> bytes:
    """A classic pcap's bytes up to the end of its packets-th record."""
    little = raw[:4] == b"\xd4\xc3\xb2\xa1"
    order = "little" if little else "big"
    pos = 24
    for _ in range(packets):
        incl = int.from_bytes(raw[pos + 8:pos + 12], order)
        pos += 16 + incl
    return raw[:pos]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
