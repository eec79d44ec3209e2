"""Allowlists: which records a profile's allowlist rules match, a batch at a time
(wirescore.detect: an allowlisted record is learned, never alerted)."""
from __future__ import annotations

import numpy as np


def address_words(addrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 16) address bytes as two big-endian uint64 words (an IPv4 address in the top
    32 bits of the first: records keep it in the first 4 bytes)."""
    w = np.ascontiguousarray(addrs, dtype=np.uint8).view(">u8").reshape(-1, 2)
    return w[:, 0].astype(np.uint64), w[:, 1].astype(np.uint64)


def cidr_words(net) -> tuple:
    """(mask_hi, value_hi, mask_lo, value_lo): an ipaddress network as the two uint64
    words address_words gives, masked (an IPv4 network in the top 32 bits of the
    first word). Made once per allowlist rule (AllowRule.words)."""
    value = int(net.network_address) << (128 - net.max_prefixlen)   # left-aligned
    mask = ((1 << net.prefixlen) - 1) << (128 - net.prefixlen)
    m64 = (1 << 64) - 1
    return (np.uint64(mask >> 64), np.uint64(value >> 64), np.uint64(mask & m64),
            np.uint64(value & m64))


def _in_cidr(hi: np.ndarray, lo: np.ndarray, words: tuple) -> np.ndarray:
    """Whether each address (as from address_words) lies in the network of `words`
    (cidr_words; versions compared apart)."""
    mask_hi, value_hi, mask_lo, value_lo = words
    inside = (hi & mask_hi) == value_hi
    if mask_lo:                                  # a prefix longer than 64 bits
        inside &= (lo & mask_lo) == value_lo
    return inside


def allowlist_hits(rules, recs: np.ndarray, addrs: list, ports=None, proto=None) -> np.ndarray:
    """Which records match an allowlist rule: all of a rule's fields, a cidr holding
    either address (addrs: each address column as address_words gives it, of the
    record's IP version), a port either port, a proto the protocol; every record of a batch checked
    at once. Records without ports or protocol (ports, proto None) match no rule that
    names one."""
    hit = np.zeros(len(recs), dtype=bool)
    if not rules:
        return hit
    version = recs["ip_version"]
    for rule in rules:
        m = np.ones(len(recs), dtype=bool)
        if rule.cidr is not None:
            inside = np.zeros(len(recs), dtype=bool)
            for hi, lo in addrs:
                inside |= _in_cidr(hi, lo, rule.words)
            m &= inside & (version == rule.cidr.version)
        if rule.port is not None:
            m &= False if ports is None else (ports[0] == rule.port) | (ports[1] == rule.port)
        if rule.proto is not None:
            m &= False if proto is None else proto == rule.proto
        hit |= m
    return hit
