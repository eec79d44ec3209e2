"""The netml feature set: its definitions, and netml itself on shared captures.

Unit tests (no netml needed): the C loops against a line-by-line Python transcription of
netml 0.7.1's (parser.py _flows2subflows, _get_SAMP), STATS against numpy per row, the
FFT and header blocks, the columns, and the one-line refusals where flow records are
used (--export, profiles, train).

Parity (needs ../shared and netml: `pip install --no-deps netml==0.7.1 'scapy~=2.5.0'
'netaddr~=1.3.0'`; netml's own pins, numpy 2.0 / pandas 2.2 / scikit-learn 1.5 / pyod,
would downgrade the venv, and its parser needs none of them but numpy and pandas):
netml's PCAP(...).pcap2flows(q_interval=0.9) and flow2features for every feature type,
with and without header, against from_capture on the same capture, subflow by subflow:
the same fids in the same order, the same split interval, and every value equal within
1e-9 (relative; STATS' std and the FFTs sum in another order). The differences found,
each checked to still happen (so the list cannot go stale):
- demo.pcap (netml's own CIC-IDS2017 demo): scapy re-encodes LDAP/CLDAP packets when
  netml asks their len(), 6 to 37 bytes short of the captured frame: the size-based
  types differ on exactly the subflows holding such a packet (IAT, SAMP_NUM equal);
- dropbox.pcap: over 30 % of the subflows last 0 s, so the sampling rate is 0 and
  netml's SAMP_* fail (OverflowError); the set refuses in one line, and with an explicit
  sampling_rate equals netml's _get_SAMP at that rate;
- skype.pcap, iphone.pcap: netml puts their IPv6 packets in one flow ('', '', -1, -1,
  -1) and its header=True fails on it (an IPv6 header has no `proto`): the header block
  is compared on the IPv4 subflows (netml's _get_header_features of those), and netml's
  failure checked.
"""
from __future__ import annotations

import csv
import functools

import numpy as np
import pytest

from conftest import FIXTURES, shared_available, SHARED_DATA
from wirescore.errors import WirescoreError
from wirescore.featuresets import SetMatrix, describe, get, netml
from wirescore.featuresets.netml_families import (FEAT_TYPES, STATS, column_names,
                                                  family, stats, width)
from wirescore.featuresets.netml_flows import (CapturePackets, NetmlParams, Subflows,
                                               make_subflows)


# ---- netml's loops, transcribed line by line (parser.py, 0.7.1) ------------------------

def netml_subflows(times, interval):
    """_flows2subflows of one flow (times sorted): lists of packet indices."""
    subflows, split = [], False
    start = times[0]
    tmp = [(start, 0)]
    for j in range(1, len(times)):
        t = times[j]
        if t - tmp[-1][0] > interval:
            subflows.append(tmp)
            start += int((t - start) // interval) * interval
            tmp = [(start, j)]
            split = True
        else:
            tmp.append((t, j))
    if not split:
        subflows.append(tmp)
    return [[j for _t, j in s] for s in subflows]


def netml_samp(times, sizes, rate, num=True):
    """_get_SAMP of one subflow."""
    feats, sub = [], -1
    for i in range(len(times)):
        if i == 0:
            current = times[0]
            sub = 1 if num else sizes[0]
            continue
        if times[i] - current <= rate:
            sub += 1 if num else sizes[i]
        else:
            current += rate
            feats.append(sub)
            k = int(np.floor((times[i] - current) // rate))
            if k > 0:
                k = min(k, 500)
                feats.extend([0] * k)
                current += k * rate
            if len(feats) > 500:
                sub = -1
                feats = feats[:500]
                break
            sub = 1 if num else sizes[i]
    if sub > 0:
        feats.append(sub)
    return feats


def fixed(v, d):
    return list(v[:d]) + [0] * (d - len(v))


# ---- unit tests --------------------------------------------------------------------------

def test_subflow_split_measures_from_the_window_start_and_drops_the_last():
    from wirescore._core.netmlseq import subflow_ids

    t = np.array([0.0, 1.0, 2.0, 10.0, 10.5, 30.0])
    ids = subflow_ids(t, np.array([0, 6]), 3.0)
    # 10 opens a window at 9 (0 + 3 * (10 // 3)); 30 opens a third, dropped as the last
    assert ids.tolist() == [0, 0, 0, 1, 1, -1]
    # 12.5 is 2.5 s after 10 but 3.5 s after the window start 9: a new subflow
    assert subflow_ids(np.array([0.0, 10.0, 12.5]), np.array([0, 3]), 3.0).tolist() == \
        [0, 1, -1]
    assert subflow_ids(np.array([5.0, 6.0]), np.array([0, 2]), 3.0).tolist() == [0, 0]
    with pytest.raises(ValueError):
        subflow_ids(t, np.array([0, 6]), 0.0)


def test_subflow_split_is_netmls_on_random_flows():
    from wirescore._core.netmlseq import subflow_ids

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        t = 1.5e9 + np.cumsum(rng.exponential(rng.choice([0.01, 1.0, 30.0]), n))
        interval = float(rng.choice([0.05, 0.7, 3.3, 17.0]))
        ids = subflow_ids(t, np.array([0, n]), interval)
        want = np.full(n, -1)
        for k, members in enumerate(netml_subflows(t.tolist(), interval)):
            want[members] = k
        assert ids.tolist() == want.tolist()


def test_sampling_windows_are_netmls_on_random_subflows():
    from wirescore._core.netmlseq import samp_fill

    rng = np.random.default_rng(2)
    for case in range(300):
        n = int(rng.integers(2, 60))
        gaps = rng.exponential(rng.choice([0.001, 0.05, 2.0]), n)
        if case % 10 == 0:
            gaps[n // 2] = 1e4                       # more than 500 empty windows
        t = 1.5e9 + np.cumsum(gaps)
        sizes = rng.integers(54, 1514, n)
        rate = float(rng.choice([0.003, 0.1, 0.77]))
        d = int(rng.choice([3, 20, 600]))
        for num in (True, False):
            out = np.zeros((1, d))
            weight = np.ones(n) if num else sizes.astype(float)
            samp_fill(t, weight, np.array([0, n]), rate, out)
            want = fixed(netml_samp(t.tolist(), sizes.tolist(), rate, num), d)
            assert out[0].tolist() == [float(v) for v in want], (case, num)


def _subflows(seqs, dim=4, rate=0.5, flags=None, ttl=None):
    """A Subflows of given (times, sizes) lists."""
    t = np.concatenate([np.asarray(s[0], float) for s in seqs])
    length = np.concatenate([np.asarray(s[1], np.int64) for s in seqs])
    starts = np.concatenate([[0], np.cumsum([len(s[0]) for s in seqs])]).astype(np.int64)
    n = len(t)
    packets = CapturePackets(np.zeros(n, np.int64), (t * 1e6).astype(np.int64),
                             length.astype(np.uint32), np.zeros(n, np.uint8),
                             np.zeros(n, np.uint8), np.full(n, 6, np.uint8),
                             fids=[("10.0.0.1", "10.0.0.2", 1, 2, 6)])
    return Subflows(packets, starts, np.zeros(len(seqs), np.int64), t, length,
                    np.zeros(n, np.uint8) if flags is None else np.asarray(flags, np.uint8),
                    np.zeros(n, np.uint8) if ttl is None else np.asarray(ttl, np.uint8),
                    interval=1.0, dim=dim, sampling_rate=rate)


def test_stats_are_numpys_per_subflow():
    rng = np.random.default_rng(3)
    seqs = []
    for _ in range(50):
        n = int(rng.integers(2, 30))
        seqs.append((np.sort(rng.uniform(0, 5, n)), rng.integers(60, 1500, n)))
    seqs.append(([1.0, 1.0], [60, 80]))              # duration 0: rates 0
    got = stats(_subflows(seqs))
    for row, (t, s) in zip(got, seqs):
        dur = max(t) - min(t)
        q1, q2, q3 = np.quantile(s, q=[0.25, 0.5, 0.75])
        want = [dur, len(s) / dur if dur else 0.0, sum(s) / dur if dur else 0.0,
                np.mean(s), np.std(s), q1, q2, q3, min(s), max(s), len(s), sum(s)]
        np.testing.assert_allclose(row, want, rtol=1e-12)
    assert got.shape[1] == len(STATS)


def test_sequences_fft_and_header():
    seqs = [([0.0, 0.5, 2.0], [60, 1500, 70]), ([1.0, 1.25, 1.5, 1.75, 3.0, 4.0],
                                                [100, 200, 300, 400, 500, 600])]
    flags = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x10, 0x10, 0xC2]
    ttl = [64, 63, 64, 128, 128, 128, 128, 128, 128]
    sub = _subflows(seqs, dim=4, flags=flags, ttl=ttl)
    iat = family(sub, "IAT")
    assert iat.tolist() == [[0.5, 1.5, 0.0], [0.25, 0.25, 0.25]]
    assert family(sub, "SIZE").tolist() == [[60, 1500, 70, 0], [100, 200, 300, 400]]
    assert family(sub, "IAT_SIZE")[0].tolist() == [0.5, 60, 1.5, 1500, 70, 0, 0]
    assert family(sub, "IAT_SIZE")[1].tolist() == [0.25, 100, 0.25, 200, 0.25, 300, 1.25]
    np.testing.assert_allclose(family(sub, "FFT-IAT"), np.fft.fft(iat, axis=1).real)
    np.testing.assert_allclose(family(sub, "FFT-SIZE")[0],
                               np.real(np.fft.fft([60, 1500, 70], n=4)))
    hdr = family(sub, "SIZE", header=True)
    # FIN SYN RST PSH ACK URG ECE CWR counts, then the first dim TTLs
    assert hdr[0, :12].tolist() == [0, 2, 0, 0, 2, 0, 0, 0, 64, 63, 64, 0]
    assert hdr[1, :8].tolist() == [1, 1, 1, 1, 4, 0, 1, 1]
    assert hdr.shape[1] == 8 + 4 + 4
    assert column_names("FFT-SAMP_NUM", 4, header=True)[0] == "fft_samp_num_hdr_1"
    assert [width(b, 5) for b in ("IAT", "SIZE", "IAT_SIZE", "STATS")] == [4, 5, 9, 12]


def test_the_set_is_listed_and_refused_where_flow_records_are_used(tmp_path):
    text = describe("netml")
    assert "iat_k" in text and "stats_std" in text and "fft_samp_size_k" in text
    fset = get("netml")
    for use in (lambda: SetMatrix(["netml.stats_mean"]), lambda: fset.computer(14),
                fset.require_records):
        with pytest.raises(WirescoreError, match="per capture"):
            use()
    from wirescore.csvtrain import model_features
    from wirescore.outputs.export import FlowExporter

    with pytest.raises(WirescoreError, match="features --set netml -r"):
        model_features("netml")
    with pytest.raises(WirescoreError, match="not from flow records"):
        FlowExporter(tmp_path / "x.csv", feature_set="netml")


def test_parameters_are_checked():
    with pytest.raises(WirescoreError, match="q_interval"):
        NetmlParams(q_interval=0)
    with pytest.raises(WirescoreError, match="no parameter 'qq'"):
        netml.params_from({"qq": 1})
    with pytest.raises(WirescoreError, match="no feature type"):
        netml.from_capture(str(FIXTURES / "ndpi-synscan.pcap"), ["FFT-STATS"])


def test_cli_writes_a_capture_s_rows(tmp_path):
    from click.testing import CliRunner

    from wirescore.cli import main

    out = tmp_path / "netml.csv"
    res = CliRunner().invoke(main, ["features", "--set", "netml", "-r",
                                    str(FIXTURES / "zeek-wikipedia.pcap"), "--export",
                                    str(out), "--type", "STATS", "--type", "FFT-IAT",
                                    "--param", "dim=6"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(out)))
    assert rows and list(rows[0])[:6] == list(netml.IDENTITY)
    assert [c for c in rows[0] if c.startswith("fft_iat_")] == \
        [f"fft_iat_{k}" for k in range(1, 6)]
    table = netml.from_capture(str(FIXTURES / "zeek-wikipedia.pcap"), ["STATS"],
                               params=NetmlParams(dim=6))
    assert [float(r["stats_num_bytes"]) for r in rows] == \
        table.values[:, STATS.index("num_bytes")].tolist()
    res = CliRunner().invoke(main, ["features", "--set", "unsw-nb15", "-r",
                                    str(FIXTURES / "zeek-wikipedia.pcap"), "--export",
                                    str(out)])
    assert res.exit_code == 1 and "computed from flow records" in res.output


def test_packets_past_max_packets_are_dropped_and_counted():
    from wirescore.featuresets.netml_flows import read_packets

    p = read_packets(str(FIXTURES / "zeek-wikipedia.pcap"), NetmlParams(max_packets=10))
    assert len(p.flow) == 10 and p.dropped["over_max_packets"] > 0
    sub = make_subflows(p, NetmlParams(interval=1.0))
    assert sub.count.sum() <= 10


# ---- parity with netml ------------------------------------------------------------------

PCAPS = SHARED_DATA / "pcaps"
#: varied shapes: netml's demo, a UDP-heavy call, SLL link type, IPv6, brute force,
#: C2, a long SSH session, few long TLS flows (dim 347), a scan, a capture spanning years
CAPTURES = ("labeled/netml-cicids2017-demo/demo.pcap", "peer-groundtruth/nfstream/skype.pcap",
            "peer-groundtruth/nfstream/KakaoTalk_chat.pcap",
            "peer-groundtruth/nfstream/iphone.pcap",
            "labeled/bruteforce/slips-ssh-bruteforce.pcap",
            "labeled/malware-c2/slips-test-cc-capture-2.pcap",
            "peer-groundtruth/zeek/ssh__ssh.pcap", "peer-groundtruth/nfstream/443-firefox.pcap",
            "labeled/scans/ndpi-synscan.pcap", "peer-groundtruth/nfstream/dropbox.pcap")
#: types whose values come from the packets' lengths
SIZED = ("SIZE", "IAT_SIZE", "STATS", "SAMP_SIZE")
#: capture -> what differs, checked below
DIFFERENT = {
    "demo.pcap": "scapy re-encodes LDAP/CLDAP packets shorter than captured (len(pkt))",
    "dropbox.pcap": "sampling rate 0 s: netml's SAMP_* fail; compared at a given rate",
    "skype.pcap": "IPv6 packets: netml's header=True fails; header compared on IPv4",
    "iphone.pcap": "IPv6 packets: netml's header=True fails; header compared on IPv4",
}


@pytest.fixture(scope="module")
def netml_parser():
    if not shared_available():
        pytest.skip(f"shared captures not found at {SHARED_DATA} (../shared is absent)")
    return pytest.importorskip(
        "netml.pparser.parser", reason="netml is not installed (pip install --no-deps "
        "netml==0.7.1 'scapy~=2.5.0' 'netaddr~=1.3.0'; see this file's docstring)")


def _rebuilt(pkts) -> bool:
    """A subflow holding a packet whose scapy len() is not its captured length."""
    return any(len(p) != len(p.original) for p in pkts)


@pytest.mark.shared
@pytest.mark.parametrize("rel", CAPTURES, ids=lambda r: r.rsplit("/", 1)[-1])
def test_equal_to_netml(netml_parser, rel):
    path = str(PCAPS / rel)
    name = rel.rsplit("/", 1)[-1]
    ref = netml_parser.PCAP(path)
    ref.pcap2flows(q_interval=0.9)
    sub_rate = None
    try:
        ours = netml.from_capture(path, FEAT_TYPES)
    except WirescoreError as exc:
        assert name == "dropbox.pcap" and "sampling rate" in str(exc)
        ours = netml.from_capture(path, FEAT_TYPES, params=NetmlParams(sampling_rate=0.5))
        sub_rate = 0.5
    assert ours.interval == ref.interval
    fids = list(zip(ours.ident["src_ip"], ours.ident["dst_ip"],
                    ours.ident["src_port"].tolist(), ours.ident["dst_port"].tolist(),
                    ours.ident["proto"].tolist()))
    assert fids == [f for f, _p in ref.flows]
    rebuilt = np.array([_rebuilt(p) for _f, p in ref.flows])
    assert rebuilt.any() == (name == "demo.pcap")
    cols = ours.columns()
    for ft in FEAT_TYPES:
        base, fft = ft.removeprefix("FFT-"), ft.startswith("FFT-")
        names = column_names(ft, ours.dim)
        got = np.column_stack([cols[n] for n in names])
        if base.startswith("SAMP") and sub_rate is not None:
            with pytest.raises(OverflowError):
                ref.flow2features(base, fft=fft)
            samp = netml_parser._get_SAMP(ref.flows, base, sub_rate)[0]
            d = width(base, ours.dim)
            want = (np.real(np.fft.fft(np.array(fixed(v, d), float), n=d)) if fft else
                    fixed(v, d) for v in samp)
            want = np.array(list(want), dtype=float)
        else:
            ref.flow2features(base, fft=fft)
            want = ref.features
        assert want.shape == got.shape, ft
        close = np.isclose(got, want, rtol=1e-9, atol=1e-9).all(axis=1)
        if base in SIZED:
            assert close[~rebuilt].all(), (ft, np.flatnonzero(~close)[:5])
            # a re-encoded packet past a subflow's first dim packets changes nothing
            assert (~close).any() == rebuilt.any(), ft
        else:
            assert close.all(), (ft, np.flatnonzero(~close)[:5])
        # header=True: netml's block of the IPv4 subflows (on IPv6 it fails)
        d = width(base, ours.dim)
        ipv4 = ours.ident["proto"] != -1
        heads = netml_parser._get_header_features([f for f, k in zip(ref.flows, ipv4) if k])
        want = np.array([np.real(np.fft.fft(h, n=8 + d)) if fft else fixed(h, 8 + d)
                         for h in heads], dtype=float).reshape(-1, 8 + d)
        hdr = family(_subflows_of(path), ft, header=True)[ipv4, :8 + d]
        np.testing.assert_allclose(hdr, want, rtol=1e-9, atol=1e-9, err_msg=ft)
    try:
        ref.flow2features("IAT", header=True)
        header_failed = False
    except AttributeError:
        header_failed = True
    assert header_failed == (not ipv4.all())
    assert (rebuilt.any() or sub_rate is not None or header_failed) == (name in DIFFERENT)


@functools.lru_cache(maxsize=1)
def _subflows_of(path):
    """make_subflows of a capture (for the header checks of one capture)."""
    from wirescore.featuresets.netml_flows import read_packets

    params = NetmlParams(sampling_rate=0.5) if path.endswith("dropbox.pcap") else NetmlParams()
    return make_subflows(read_packets(path, params), params)
