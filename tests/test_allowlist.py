"""allowlist_hits agrees with Python's ipaddress membership for IPv4 and IPv6 networks
of every prefix class (0, within the first 64 bits, beyond them, whole addresses), with
ports and protocol, on records built the way the core lays addresses out."""
from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from wirescore.allowlist import address_words, allowlist_hits
from wirescore.rules import AllowRule

NETS = ["0.0.0.0/0", "10.0.0.0/8", "10.1.2.0/23", "10.1.2.3/32", "::/0", "fe80::/10",
        "2001:db8::/48", "2001:db8:0:1::/64", "2001:db8:0:1:aa00::/72",
        "2001:db8:0:1::5/128"]


def records(rng, n: int):
    """n records, half IPv4 and half IPv6, near the networks above; addresses as the
    core keeps them (IPv4 in the first 4 of 16 bytes)."""
    recs = np.zeros(n, dtype=[("ip_version", "u1"), ("addr", "u1", (2, 16))])
    pool4 = [ipaddress.ip_address(a) for a in ("10.1.2.3", "10.1.3.200", "10.200.0.1",
                                               "192.168.1.1", "10.1.2.4")]
    pool6 = [ipaddress.ip_address(a) for a in ("2001:db8::1", "2001:db8:0:1::5",
                                               "2001:db8:0:1:aa00::9", "2001:db8:0:1:ab00::9",
                                               "fe80::1", "2001:db9::1")]
    addrs = []
    for i in range(n):
        v6 = i % 2 == 1
        pool = pool6 if v6 else pool4
        pair = [pool[rng.integers(len(pool))] for _ in range(2)]
        recs["ip_version"][i] = 6 if v6 else 4
        for side, a in enumerate(pair):
            packed = a.packed
            recs["addr"][i, side, :len(packed)] = np.frombuffer(packed, np.uint8)
        addrs.append(pair)
    return recs, addrs


@pytest.mark.parametrize("net", NETS)
def test_cidr_rules_match_what_ipaddress_says(net):
    rng = np.random.default_rng(len(net))
    recs, addrs = records(rng, 400)
    network = ipaddress.ip_network(net)
    words = [address_words(recs["addr"][:, side]) for side in (0, 1)]
    hits = allowlist_hits([AllowRule(network)], recs, words)
    want = [any(a.version == network.version and a in network for a in pair)
            for pair in addrs]
    assert hits.tolist() == want
    assert any(want) and not all(want)


def test_ports_and_protocol_must_all_match():
    rng = np.random.default_rng(1)
    recs, addrs = records(rng, 50)
    words = [address_words(recs["addr"][:, side]) for side in (0, 1)]
    ports = (np.arange(50) % 3 * 100, np.full(50, 53))
    proto = np.where(np.arange(50) % 2 == 0, 6, 17)
    rule = AllowRule(ipaddress.ip_network("10.0.0.0/8"), port=100, proto=6)
    hits = allowlist_hits([rule], recs, words, ports, proto)
    want = [recs["ip_version"][i] == 4 and any(a in rule.cidr for a in addrs[i])
            and ports[0][i] == 100 and proto[i] == 6 for i in range(50)]
    assert hits.tolist() == want and any(want)
    assert not allowlist_hits([AllowRule(port=53)], recs, words).any()   # no ports given
