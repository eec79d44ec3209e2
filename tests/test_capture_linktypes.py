"""Several link types in one capture: a pcapng merged from interfaces of different link
types (mergecap, dumpcap -i a -i b) is read whole, each packet decoded by its own link
type, and a snippet never labels a packet with another's link type.

- The reader delivers every packet with its interface's link type (a batch never mixes
  two), in the file's order; libpcap refuses the same file.
- The flows of the merged file are those of the two captures read apart.
- `--bpf` is compiled per link type (an SLL program for the SLL packets).
- FlowMeter.feed(linktype=...) decodes a batch by that link type; the packet ring keeps
  each frame's link type, and a snippet of frames of two link types is a pcapng with one
  interface per link type (a classic pcap when they share one).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from test_capture_reader import (MULTI_INTERFACE_REFUSALS, libpcap_packets, reader_packets,
                                 tshark_packets)
from wirescore.capture import FileSource
from wirescore.outputs.snippets import pcap_bytes


def merged_two_linktypes(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An Ethernet and a Linux SLL capture merged into one pcapng by mergecap."""
    if shutil.which("mergecap") is None:
        pytest.skip("mergecap (tshark) is not installed")
    eth = FIXTURES / "zeek-wikipedia.pcap"
    sll = FIXTURES / "zeek-tls-irc-starttls-sll.pcap"
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(eth), str(sll)],
                   check=True, capture_output=True)
    return merged, eth, sll


def test_merged_pcapng_gives_each_packet_its_link_type(tmp_path):
    merged, eth, sll = merged_two_linktypes(tmp_path)
    _, got, fault = reader_packets(merged)
    assert fault is None and set(got.linktypes.tolist()) == {1, 113}
    assert got.where(got.linktypes == 1).same(reader_packets(eth)[1])
    assert got.where(got.linktypes == 113).same(reader_packets(sll)[1])
    stamps = got.times[:, 0].astype(np.int64) * 1_000_000 + got.times[:, 1]
    assert (np.diff(stamps) >= 0).all()                   # mergecap's order, kept
    assert libpcap_packets(merged)[2].startswith(MULTI_INTERFACE_REFUSALS)
    assert got.same(tshark_packets(merged))


def flow_lines(path: Path, logdir: Path) -> list[dict]:
    from wirescore.config import Config
    from wirescore.engine import Engine

    Engine(Config.load(overrides={"detect.enabled": False}), log_dir=logdir).run(str(path))
    events = [json.loads(line) for line in (logdir / "eve.json").read_text().splitlines()]
    return [e for e in events if e["event_type"] == "flow"]


def flow_key(event: dict):
    """A flow event without its end reason: in the merged file the first capture's
    flows end by timeout (the second capture is years later), read apart at shutdown."""
    f = event["flow"]
    return (event["src_ip"], event.get("src_port"), event["dest_ip"], event.get("dest_port"),
            event["proto"], f["pkts_toserver"], f["pkts_toclient"], f["bytes_toserver"],
            f["bytes_toclient"], f["start"], f["end"], event.get("community_id"))


def test_merged_pcapng_gives_the_flows_of_both_captures(tmp_path):
    """Each packet decoded by its own link type: the flows of the merged file are those of
    the two files read apart (the two captures share no flow key, so none merges)."""
    merged, eth, sll = merged_two_linktypes(tmp_path)
    both = sorted(map(flow_key, flow_lines(merged, tmp_path / "m")))
    apart = sorted(map(flow_key, flow_lines(eth, tmp_path / "e") +
                       flow_lines(sll, tmp_path / "s")))
    assert both and both == apart



def test_bpf_for_the_second_link_type_of_a_merged_pcapng(tmp_path):
    """Programs are compiled per link type: the SLL packets are filtered by an SLL
    program (the Ethernet one would read the wrong offsets)."""
    merged, eth, sll = merged_two_linktypes(tmp_path)
    expr = "tcp port 6667"
    _, got, _ = reader_packets(merged, bpf=expr)
    assert len(libpcap_packets(sll, bpf=expr)[1]) > 0
    assert got.where(got.linktypes == 113).same(libpcap_packets(sll, bpf=expr)[1])
    assert got.where(got.linktypes == 1).same(libpcap_packets(eth, bpf=expr)[1])


# ---- the core: a batch's link type, and the ring's --------------------------------------------

def batches_of(path: Path):
    """[(data bytes, meta, linktype)] of a capture, read whole."""
    source = FileSource(path)
    try:
        return [(bytes(d), np.array(m), lt) for d, m, lt in source.batches()]
    finally:
        source.close()


def test_feed_decodes_a_batch_by_its_link_type():
    from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

    meter = FlowMeter(1, context=False, ring_bytes=1 << 20)
    for path in (FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "zeek-tls-irc-starttls-sll.pcap"):
        for data, meta, linktype in batches_of(path):
            i = 0
            while i < len(meta):
                i = meter.feed(data, meta, i, linktype)
                meter.drain()
    counters = dict(zip(COUNTER_NAMES, meter.counters.tolist()))
    sll = len(reader_packets(FIXTURES / "zeek-tls-irc-starttls-sll.pcap")[1])
    assert counters["decoder.sll"] == sll > 0 and counters["decoder.invalid"] == 0
    assert counters["decoder.ethernet"] == len(reader_packets(FIXTURES / "zeek-wikipedia.pcap")[1])
    data, meta = meter.ring_between(0.0, float(1 << 34))
    assert meta.shape[1] == 5 and set(meta[:, 4].tolist()) == {1, 113}
    with pytest.raises(ValueError, match="unsupported link type 105"):
        meter.feed(*batches_of(FIXTURES / "zeek-wikipedia.pcap")[0][:2], 0, 105)


def test_feed_without_a_link_type_uses_the_meters():
    from wirescore._core.flowtable import COUNTER_NAMES, FlowMeter

    data, meta, _ = batches_of(FIXTURES / "zeek-tls-irc-starttls-sll.pcap")[0]
    as_eth, as_sll = FlowMeter(1, context=False), FlowMeter(113, context=False)
    as_eth.feed(data, meta)
    as_sll.feed(data, meta, 0, -1)
    eth = dict(zip(COUNTER_NAMES, as_eth.counters.tolist()))
    sll = dict(zip(COUNTER_NAMES, as_sll.counters.tolist()))
    assert eth["decoder.ethernet"] == sll["decoder.sll"] == len(meta)


def test_a_snippet_of_two_link_types_is_a_pcapng_that_labels_each_frame(tmp_path):
    """The ring's frames of both captures, as one snippet: each frame keeps its link
    type (read back with FileSource and tshark); frames of one link type stay a classic
    pcap of that link type."""
    from wirescore._core.flowtable import FlowMeter

    meter = FlowMeter(1, context=False, ring_bytes=1 << 20)
    for path in (FIXTURES / "zeek-wikipedia.pcap", FIXTURES / "zeek-tls-irc-starttls-sll.pcap"):
        for data, meta, linktype in batches_of(path):
            meter.feed(data, meta, 0, linktype)
            meter.drain()
    data, meta = meter.ring_between(0.0, float(1 << 34))
    snippet = tmp_path / "both.pcap"
    snippet.write_bytes(pcap_bytes(1, data, meta))
    assert snippet.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    _, got, fault = reader_packets(snippet)
    assert fault is None and got.linktypes.tolist() == meta[:, 4].tolist()
    assert got.times.tolist() == meta[:, :2].tolist() and got.blob == data
    ref = tshark_packets(snippet)
    assert len(ref) == len(meta) and ref.blob == data
    sll = meta[:, 4] == 113
    ends = np.cumsum(meta[:, 2])
    one = b"".join(data[e - c:e] for e, c in zip(ends[sll].tolist(), meta[sll, 2].tolist()))
    single = tmp_path / "sll.pcap"
    single.write_bytes(pcap_bytes(1, one, meta[sll]))
    dlt, packets, error = libpcap_packets(single)
    assert (dlt, error, len(packets)) == (113, None, int(sll.sum())) and packets.blob == one


def test_an_empty_snippet_is_a_pcap_of_the_source_link_type():
    blob = pcap_bytes(113, b"", np.empty((0, 5), dtype=np.uint32))
    assert len(blob) == 24 and int.from_bytes(blob[20:24], "little") == 113


def test_bpf_that_does_not_compile_for_the_second_link_type(tmp_path):
    """'arp or vlan' compiles for Ethernet, not for Linux cooked captures: the packets
    the filter keeps before the first SLL packet are delivered, then the run ends with
    libpcap's words for the second link type."""
    from wirescore._core.pcapfile import bpf_filter
    from wirescore.bpfcompile import compile_for_file

    merged, _eth, _sll = merged_two_linktypes(tmp_path)
    expr = "arp or vlan"
    _, everything, _ = reader_packets(merged)
    first_sll = int(np.flatnonzero(everything.linktypes == 113)[0])
    program = compile_for_file(expr, 1)
    ends = np.cumsum(everything.lens)
    keep = np.zeros(len(everything), dtype=bool)
    for i in range(first_sll):
        frame = everything.blob[ends[i] - everything.lens[i]:ends[i]]
        keep[i] = bool(bpf_filter(program, frame, len(frame)))
    _, got, fault = reader_packets(merged, bpf=expr)
    assert fault is not None and "--bpf 'arp or vlan': no VLAN support" in fault
    assert "link type 113" in fault and keep.any() and got.same(everything.where(keep))
