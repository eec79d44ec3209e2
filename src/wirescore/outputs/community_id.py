"""Community ID v1 flow hashing.

Computes the ``community_id`` string that Suricata, Zeek, Arkime and Elastic put
on flow records, so our EVE lines can be joined with theirs by a plain string
comparison.

Reference: Corelight, "Community ID Flow Hashing", version 1,
https://github.com/corelight/community-id-spec (README.md: pseudo code and
technical details; baseline/: test vectors). The ICMP/ICMPv6 type -> port
mapping follows the spec's reference implementation, which mirrors Zeek's
(https://github.com/corelight/pycommunityid, communityid/icmp.py and icmp6.py).

The hashed bytes, all in network byte order::

    seed (2) . saddr (4|16) . daddr (4|16) . proto (1) . 0 (1) [. sport (2) . dport (2)]

``"1:"`` + base64(SHA1) of that, the endpoints first put in order so the smaller
``(address, port)`` comes first (addresses compared as bytes; equal addresses
let the ports decide). Ports take part only when given (TCP, UDP, SCTP, and for
ICMP/ICMPv6 the port equivalents below); other IP protocols hash the address
pair and protocol only.

ICMP (proto 1) and ICMPv6 (proto 58): pass ``sport=type`` and ``dport=code``.
A request/response type (echo, timestamp, router/neighbor discovery, ...) maps
to ``(type, counter-type)`` and is ordered like a port pair, so a request and
its reply get the same ID. Any other type is one-way: ``(type, code)``, hashed
in the direction given, with no reordering. Passing already-mapped values
(``sport=type, dport=counter-type``) gives the same result, so the mapping is
idempotent.

When it fails: a ``ValueError`` for addresses that are not both 4 or both 16
bytes, ports outside 0..65535 or only one of the two ports given, a proto
outside 0..255, or a seed outside 0..65535. Ports are optional for every
protocol: a TCP/UDP tuple without ports (e.g. a non-first fragment keyed
port-less) hashes like a port-less protocol, which never collides with a
ported tuple; the reference implementation rejects that case instead.

Cost: one SHA1 over at most 42 bytes plus a base64 of 20 bytes, a few
microseconds per call; no state is kept between calls.

Example::

    >>> import socket
    >>> community_id(6, socket.inet_aton("1.2.3.4"), socket.inet_aton("5.6.7.8"), 1122, 3344)
    '1:wCb3OG7yAFWelaUydu0D+125CLM='
"""
from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable
from struct import Struct

__all__ = ["community_id", "community_ids", "icmp_port_equivalents",
           "PROTO_ICMP", "PROTO_ICMP6"]

PROTO_ICMP = 1
PROTO_ICMP6 = 58

# ICMPv4 request/response pairs (RFC 792, RFC 950 for address mask).
_ICMP4_COUNTER_TYPE = {
    8: 0, 0: 8,      # echo request / echo reply
    13: 14, 14: 13,  # timestamp / timestamp reply
    15: 16, 16: 15,  # information request / reply
    10: 9, 9: 10,    # router solicitation / router advertisement (RFC 1256)
    17: 18, 18: 17,  # address mask request / reply
}

# ICMPv6 request/response pairs (RFC 4443, RFC 2710, RFC 4861, RFC 4620, RFC 6275).
_ICMP6_COUNTER_TYPE = {
    128: 129, 129: 128,  # echo request / echo reply
    130: 131, 131: 130,  # MLD listener query / report
    133: 134, 134: 133,  # router solicitation / advertisement
    135: 136, 136: 135,  # neighbor solicitation / advertisement
    139: 140, 140: 139,  # node information ("who are you") query / reply
    144: 145, 145: 144,  # home agent address discovery request / reply
}

_SEED = Struct("!H")
_PROTO_PORTS = Struct("!BxHH")   # proto, padding 0, sport, dport
_PROTO_ONLY = Struct("!Bx")      # proto, padding 0
_b2a = binascii.b2a_base64
_sha1 = hashlib.sha1


def icmp_port_equivalents(proto: int, mtype: int, mcode: int) -> tuple[int, int, bool]:
    """Map an ICMP (1) or ICMPv6 (58) type and code to (sport, dport, one_way).

    Two-way types give (type, counter-type, False); all others (type, code, True).
    """
    table = _ICMP4_COUNTER_TYPE if proto == PROTO_ICMP else _ICMP6_COUNTER_TYPE
    counter = table.get(mtype)
    if counter is None:
        return mtype, mcode, True
    return mtype, counter, False


def community_id(proto: int, saddr: bytes, daddr: bytes,
                 sport: int | None, dport: int | None,
                 seed: int = 0, base64: bool = True) -> str:
    """Community ID v1 of one flow tuple.

    proto: IP protocol number (0..255). saddr, daddr: raw addresses in network
    order, both 4 (IPv4) or both 16 (IPv6) bytes. sport, dport: ports, or ICMP
    type and code for proto 1/58, or both None for a port-less tuple. seed:
    0..65535 (Suricata's community-id-seed). base64=False renders the SHA1 as
    40 hex digits (the spec's troubleshooting form).
    """
    la, lb = len(saddr), len(daddr)
    if la != lb or la not in (4, 16):
        raise ValueError(f"community_id: addresses must both be 4 or 16 bytes, "
                         f"got {la} and {lb}")
    if not 0 <= proto <= 255:
        raise ValueError(f"community_id: proto {proto} outside 0..255")
    if not 0 <= seed <= 0xFFFF:
        raise ValueError(f"community_id: seed {seed} outside 0..65535")
    if sport is None or dport is None:
        if sport is not dport:
            raise ValueError("community_id: give both ports or neither")
        if daddr < saddr:
            saddr, daddr = daddr, saddr
        tail = _PROTO_ONLY.pack(proto)
    else:
        if not (0 <= sport <= 0xFFFF and 0 <= dport <= 0xFFFF):
            raise ValueError(f"community_id: port outside 0..65535 ({sport}, {dport})")
        one_way = False
        if proto == PROTO_ICMP or proto == PROTO_ICMP6:
            sport, dport, one_way = icmp_port_equivalents(proto, sport, dport)
        if not one_way and (daddr < saddr or (daddr == saddr and dport < sport)):
            saddr, daddr, sport, dport = daddr, saddr, dport, sport
        tail = _PROTO_PORTS.pack(proto, sport, dport)
    digest = _sha1(b"".join((_SEED.pack(seed), saddr, daddr, tail)))
    if base64:
        return "1:" + _b2a(digest.digest(), newline=False).decode("ascii")
    return "1:" + digest.hexdigest()


def community_ids(tuples: Iterable[tuple[int, bytes, bytes, int | None, int | None]],
                  seed: int = 0, base64: bool = True) -> list[str]:
    """community_id() over many (proto, saddr, daddr, sport, dport) tuples.

    For a batch of finished flows: one call, one list back, same rules and
    errors as community_id().
    """
    return [community_id(p, sa, da, sp, dp, seed, base64) for p, sa, da, sp, dp in tuples]
