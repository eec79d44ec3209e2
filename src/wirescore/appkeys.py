"""What each app-layer event tells the first-seen tables: the observation kinds, and
which fields of an event make an observation's client, server and key.

An observation is "client used key (of kind) on server at ts_us"
(wirescore._core.firstseen answers how new and how rare that is). Every kind is one row
of KINDS: its name (what profiles name in `model.params.kind`), the event kind it comes
from, and the alert text that says what was new. Kind numbers are positions in KINDS
plus one: append new kinds, never reorder (the numbers are hashed into the tables).

DNS (event kind "dns"), wired now:
  dns.name   every question of a query: client = the asker, server = the question's
             registered domain (wirescore.dnsnames; a 16-byte stand-in address hashed
             from it), key = the whole name. So server_clients_before counts the hosts
             that asked anything under the domain, pair_keys_before the distinct names
             this client asked under it, key_len / key_entropy measure the part of the
             name under the domain (where tunnels put their data; 0 for reverse
             names, in-addr.arpa and ip6.arpa, whose labels are an address).
  dns.txt    answers carrying a TXT or NULL record (the record types that carry
             arbitrary bytes back): client = the asker (the answer's destination),
             server = the question's registered domain (a stand-in address), key = the
             first such record's data; pair_keys_before counts the distinct payloads
             this client received under the domain, key_len / key_entropy measure this
             one.
  Link-local name resolution (mDNS 5353, LLMNR 5355) is not asked of a server and
  gives no observation.
  dns.nx     NXDOMAIN answers: client = the asker (the answer's destination), server =
             the server that answered, key = the registered domain that does not exist;
             pair_keys_before counts the distinct such domains this client was told of.
             Only names under a public top-level domain: a single-label name (a
             browser's probe of the search list, "wpad") or one with no public suffix
             is no domain anyone could have registered.

DCE-RPC (event kind "dcerpc", over TCP), wired:
  dcerpc.op  every REQUEST (its own event, not the response that repeats it): client =
             the request's sender, server = its destination, key = the interface UUID
             of the request's context (16 zero bytes when the connection's BIND was
             not seen) + the opnum. The alert names it as the EVE writer does
             (win_names.DCERPC_SERVICES): "drsuapi DRSGetNCChanges (opnum 3)".
             key_clients_before counts the server's clients that called it,
             key_others_before the other hosts that called it on any server.

Kerberos (event kind "krb5"), wired:
  krb5.user  every AS-REQ naming a client principal: client = the sender, server = the
             KDC (its destination), key = the principal name, lower-cased (Windows
             names are case-insensitive; "MITACS-PC3$" and "mitacs-pc3$" are one
             account), without the realm (a client writes its realm both short and
             dotted). pair_keys_before counts the distinct accounts this client asked
             the KDC to authenticate; key_others_before the other hosts that asked for
             the account.
  krb5.sname every TGS-REQ naming a service other than krbtgt (a TGT's renewal or a
             referral to another realm is no service ticket): client = the sender,
             server = the KDC within one SNAME_WINDOW_S-second window of packet time
             (a 16-byte stand-in hashed from the KDC's address and the window's
             number; the alert names the KDC), key = the service principal,
             lower-cased, without the realm. So pair_keys_before counts the distinct
             services this client asked tickets for in the window (Kerberoasting asks
             for every SPN of the directory at once), key_others_before the other
             hosts that asked for the service. weak is 1 when the request listed its
             etypes whole and every one is weak (msg_names.krb5_etype_weak: no AES,
             RC4-HMAC / DES only), what a Kerberoast asks for to crack the ticket
             offline; 0 else (a request offering AES, or more etypes than the event
             keeps).

HTTP (event kind "http": one event per header block, a response paired with its
request by flow and tx_id, HttpObserver; kind "fileinfo"), wired:
  http.fail  every response with status 400-599: client = the request's sender, server
             = the host that answered, key = method + " " + path (no query), the status
             its key_len. pair_keys_before counts the distinct operations that failed
             for this client on this server; key_clients_before the server's other
             clients that failed on the same one.
  http.input every request input that leaves the data grammar (wirescore.httpinput:
             the URI's path, each query parameter, User-Agent, Referer): client = the
             sender, server = the destination, key = method + path + the input's name;
             key_len = the number of distinct escapes (1..5). The alert quotes the
             input: "sql in id of GET /dv/vulnerabilities/sqli/: 1' and 1=1#".
  http.turn  a request from a host that was itself sent an HTTP request by a third
             host within TURN_SECONDS before (a server turned client: log4shell's
             fetch of the attacker's class, a webshell's download): client = the
             host, server = the one it fetches from, key = the server's address +
             port; pair_new says it is the host's first request of this kind to it.
  http.exe   a body whose first bytes start an executable (PE, MZ, ELF, Mach-O, Java
             class: EXE_MAGIC): client = the body's receiver, server = its sender, key
             = the kind; pair_new says the client never got one of this kind from the
             server before.

SMB (event kind "smb"), wired:
  smb.comp   every compression transform header that breaks [MS-SMB2] 2.2.42 or the
             connection's NEGOTIATE (an SB_COMPRESSED event: core_names
             SMB_COMP_VIOLATIONS; CVE-2020-0796, SMBGhost, sends one whose
             OriginalCompressedSegmentSize + Offset wraps 32 bits): client = the
             sender, server = the destination, key = the violation bits, key_len = the
             number of violations. The alert quotes the header's sizes, the endpoints
             with their ports and each violation: "OriginalCompressedSegmentSize
             0xffffffff + offset 16 from 127.0.0.1:49955 to 127.0.0.1:445; compression
             was not negotiated".

Kinds expected of protocols not wired yet (one row each when their events are tested):
  dcerpc.if   client -> server, key = interface UUID (bind)
  smb.share   client -> server, key = tree-connect path
  smb.pipe    client -> server, key = named pipe opened
  tls.ja4     client -> server, key = JA4 (key_hosts_before: hosts presenting it)
  tls.cert    server -> client roles swapped: the presenting host as client, key = the
              certificate's SHA-1 (hosts presenting it)
  http.ua     client -> server, key = user agent
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wirescore.dnsbatch import distinct_names, first_payloads
from wirescore.dnsnames import NO_DOMAIN, split_name


@dataclass(frozen=True)
class ObsKind:
    """One observation kind: name, the event kind it comes from, and the alert text, a
    format string over the observation (client, server, key, and the answer's columns,
    `count` being the model's count, `calls` the client's calls of the key on the
    server and `keys` its distinct keys there, this observation included)."""

    name: str
    event: str
    message: str


#: krb5.sname's window: seconds of packet time over which a client's distinct service
#: principals are counted (a logon asks for its handful within seconds, a Kerberoast
#: for every SPN of the directory within seconds)
SNAME_WINDOW_S = 60
#: what an alert appends to a krb5.sname key asked with weak etypes only
WEAK_TEXT = " (RC4/DES only)"

KINDS = (
    ObsKind("dns.name", "dns",
            "{count} distinct names under {server} from {client} (this one {key}, "
            "{key_len} characters under the domain, {key_entropy:.1f} bits/character); "
            "{server_others_before} other hosts asked under {server} before"),
    ObsKind("dns.txt", "dns",
            "{count} distinct TXT/NULL payloads under {server} for {client} (this one "
            "{key_len} bytes for {key}); {server_others_before} other hosts got answers "
            "under {server} before"),
    ObsKind("dns.nx", "dns",
            "{count} distinct nonexistent domains for {client} from {server} (this one "
            "{key}); {key_hosts_before} hosts were told it does not exist before"),
    ObsKind("dcerpc.op", "dcerpc",
            "call {calls} of {key} from {client} to {server}; "
            "{key_others_before} other hosts called it before, on any server; the server "
            "had {server_others_before} other RPC clients; {keys} distinct operations from "
            "{client} to {server}"),
    ObsKind("krb5.user", "krb5",
            "{count} distinct accounts asked of KDC {server} by {client} (this one "
            "{key}); {key_others_before} other hosts asked for it before"),
    ObsKind("http.fail", "http",
            "{count} distinct failed requests from {client} to {server} (this one "
            "{key}); {key_clients_before} other clients of {server} failed on it before"),
    ObsKind("http.input", "http",
            "{client} sent {server} an input that leaves the data grammar ({key}); "
            "{key_clients_before} other clients sent one there before"),
    ObsKind("http.turn", "http",
            "{client} fetched from {server} right after a request from {key}; first "
            "time {client} is a client of {server} this way"),
    ObsKind("http.exe", "fileinfo",
            "{client} received {key} from {server}, the first executable it got from "
            "{server}; {key_clients_before} other clients got this kind from it before"),
    ObsKind("krb5.sname", "krb5",
            "{count} distinct service tickets asked of KDC {server} by {client} within "
            f"{SNAME_WINDOW_S} s (this one {{key}}); {{key_others_before}} other hosts "
            "asked for it before"),
    ObsKind("smb.comp", "smb", "SMB compression header with {key}"),
)
KIND_ID = {k.name: i + 1 for i, k in enumerate(KINDS)}
BY_NAME = {k.name: k for k in KINDS}

#: an observation's columns (the first-seen answer's are added by the detector)
OBS_DTYPE = np.dtype([("row", np.int64), ("kind", np.uint64), ("ts_us", np.int64),
                      ("client", np.uint8, 16), ("server", np.uint8, 16),
                      ("key", np.uint64), ("key_len", np.int64),
                      ("key_entropy", np.float64), ("ip_version", np.uint8),
                      ("swap", np.uint8), ("scope", np.uint64), ("weak", np.uint8)])
#: the answer and observation columns a profile of unit app may name as features
COLUMNS = ("pair_new", "pair_count_before", "pair_keys_before", "key_clients_before",
           "server_clients_before", "key_hosts_before", "key_age_us",
           "server_others_before", "key_others_before", "key_len", "key_entropy",
           "weak")

#: characters of a key an alert message quotes
KEY_TEXT = 64
_QR = 0x8000
_RCODE_NXDOMAIN = 3
_LINK_LOCAL_PORTS = (5353, 5355)   # mDNS (RFC 6762), LLMNR (RFC 4795)
_REVERSE_ZONES = (b"in-addr.arpa", b"ip6.arpa")
def hash64(data: bytes) -> int:
    """A key's 64-bit hash (BLAKE2b: the same in every process and run)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def stand_in(data: bytes) -> bytes:
    """A 16-byte stand-in address for a server that is a name (a DNS domain)."""
    return hashlib.blake2b(b"server:" + data, digest_size=16).digest()


class Observations:
    """The observations of one batch of events: OBS_DTYPE records, and what each one's
    client, server and key are, turned into words only for the few that alert
    (words(i))."""

    def __init__(self):
        self.rows: list[tuple] | _BlockRows = []
        self._raw: list[tuple] = []
        self._block: np.ndarray | None = None

    @classmethod
    def of_block(cls, block: np.ndarray, raw) -> Observations:
        """The observations of an extractor that makes them whole (vectorised): block,
        OBS_DTYPE records; raw[i], observation i's raw parts (version, client, server,
        key), as add() keeps them for words()."""
        obs = cls()
        obs.rows, obs._raw, obs._block = _BlockRows(block), raw, block
        return obs

    def add(self, row, kind, ts, client, server, key, key_len, key_entropy, version, swap,
            raw, scope: bytes = b"", weak=0) -> None:
        """One observation; raw: (client address, server address or name, key) as the
        event has them, for words(); scope: what makes two alerts of one client two
        different things (suppression is per client and scope; b"": one thing); weak:
        the OBS_DTYPE column (0 or 1)."""
        self.rows.append((row, KIND_ID[kind], ts, np.frombuffer(client, np.uint8),
                          np.frombuffer(server, np.uint8), hash64(key), key_len,
                          key_entropy, version, swap, hash64(scope) if scope else 0, weak))
        self._raw.append((version, *raw))

    def array(self) -> np.ndarray:
        if self._block is not None:
            return self._block
        return np.array(self.rows, dtype=OBS_DTYPE)

    def words(self, i: int) -> tuple[str, str, str]:
        """(client, server, key) of observation i as text: addresses as IP text, names
        as EVE writes them, a key longer than KEY_TEXT characters cut there and marked
        with "..."."""
        from wirescore.outputs.eve_dns import text_of

        version, client, server, key = self._raw[i]
        c = _addr_text(client, version)
        s = _addr_text(server, version) if isinstance(server, _Address) else text_of(server)
        k = key if isinstance(key, str) else text_of(key)
        whole = isinstance(key, _Whole) or len(k) <= KEY_TEXT
        return c, s, k if whole else k[:KEY_TEXT] + "..."


class _BlockRows(Sequence):
    """Observations.rows of a block: its records, one a row."""

    def __init__(self, block: np.ndarray):
        self.block = block

    def __len__(self) -> int:
        return len(self.block)

    def __getitem__(self, i):
        return self.block[i]


class _Whole(str):
    """A key's text that words() keeps whole: composed of numbers and fixed words (no
    bytes from the wire), so bounded."""


class _Address(bytes):
    """A 16-byte address among Observations' raw parts (a server that is a host)."""


def _addr_text(raw: bytes, version: int) -> str:
    import ipaddress

    return str(ipaddress.ip_address(raw[:4] if version == 4 else raw))


class DnsObserver:
    """dns_observations with a cache of the names it measured that lives across
    batches (DNS_MEMO_MAX names), so one per Detector."""

    def __init__(self):
        self._memo: dict[bytes, tuple] = {}

    def __call__(self, records: np.ndarray) -> Observations:
        return dns_observations(records, self._memo)


def dns_observations(records: np.ndarray, memo: dict | None = None) -> Observations:
    """The observations of DNS events (DNS_EVENT_DTYPE records; the module docstring
    says which). Names are lower-cased; a cut name is keyed as it was kept.

    Vectorised over the batch: each distinct question name is split, hashed and measured
    once (_DnsNames; not at all when memo, DnsObserver's cache, has it), the entropies
    in the core (wirescore._core.entropy); the only Python work per event is hashing a
    TXT/NULL payload. Observations come in event order, an answer's dns.nx before its
    dns.txt."""
    from wirescore.core_names import DNS_BITS

    wanted = (records["status"] & DNS_BITS["DE_QUESTION"]).astype(bool)
    for p in _LINK_LOCAL_PORTS:
        wanted &= (records["src_port"] != p) & (records["dest_port"] != p)
    ev = np.flatnonzero(wanted)
    if len(ev) == 0:
        return Observations()
    names = _DnsNames(records, ev, {} if memo is None else memo)
    answer = (records["flags"][ev] & _QR).astype(bool)
    nx = answer & ((records["flags"][ev] & 15) == _RCODE_NXDOMAIN) & names.nx_ok[names.of]
    txt, off, size = first_payloads(records, ev, answer)
    parts = [_dns_part(records, ev, ~answer, names, "dns.name"),
             _dns_part(records, ev, nx, names, "dns.nx"),
             _dns_part(records, ev, txt, names, "dns.txt", off, size)]
    block = np.concatenate([b for b, _ in parts])
    if len(block) == 0:
        return Observations()
    # event order; within an event, dns.nx (sub 0) before dns.txt (sub 1)
    sub = np.concatenate([np.full(len(b), s) for (b, _), s in zip(parts, (0, 0, 1))])
    order = np.argsort(block["row"] * 2 + sub, kind="stable")
    block = block[order]
    which = np.concatenate([np.full(len(b), k) for k, (b, _) in enumerate(parts)])[order]
    at = np.concatenate([at for _, at in parts])[order]
    return Observations.of_block(
        block, _DnsRaw(records, names, which, block["row"], names.of[at]))


#: distinct question names whose split, hashes and entropy a DnsObserver keeps (a
#: cache: a network asks the same names over and over; the oldest goes first, and
#: forgetting one costs its measuring again, never an answer)
DNS_MEMO_MAX = 1 << 13


class _DnsNames:
    """The distinct question names of DNS events ev (records' rows): for each, its name
    (trailing dots stripped, lower case), registered domain (dnsnames.split_name), the
    domain's stand-in address, the key hashes of the name and of the domain, the length
    and entropy of the data under the domain (0 for a reverse name), and whether an
    NXDOMAIN for it names a domain (nx_ok). of[j] is the distinct name of event ev[j].
    memo: the kept name bytes -> that tuple, filled here (at most DNS_MEMO_MAX)."""

    def __init__(self, records: np.ndarray, ev: np.ndarray, memo: dict):
        from wirescore._core.entropy import entropy_rows

        self.of, raws, kept = distinct_names(records, ev)
        got = [memo.get(raw) for raw in raws]
        new = [k for k, g in enumerate(got) if g is None]
        if new:
            measured = [self._measure(raws[k]) for k in new]
            # the data under the domain is the name's first data_len bytes, lower-cased
            bits = entropy_rows(kept[new], np.arange(len(new)),
                                np.zeros(len(new), np.int64), [m[4] for m in measured],
                                fold=True).tolist()
            for k, m, b in zip(new, measured, bits):
                got[k] = memo[raws[k]] = (*m, b)
            while len(memo) > DNS_MEMO_MAX:
                del memo[next(iter(memo))]
        (self.names, self.domains, key, domain_key, data_len, server, nx_ok,
         entropy) = zip(*got)
        self.key = np.array(key, dtype=np.uint64)
        self.domain_key = np.array(domain_key, dtype=np.uint64)
        self.data_len = np.array(data_len, dtype=np.int64)
        self.server = np.frombuffer(b"".join(server), np.uint8).reshape(-1, 16)
        self.nx_ok = np.array(nx_ok, dtype=bool)
        self.entropy = np.array(entropy, dtype=np.float64)

    @staticmethod
    def _measure(raw: bytes) -> tuple:
        """(name, domain, key, domain key, data length, stand-in, nx_ok) of a kept
        question name."""
        name = raw.rstrip(b".").lower()
        domain, under = split_name(name)
        # a reverse name's labels are an address, not data: measured as empty
        data_len = 0 if domain in _REVERSE_ZONES else len(under)
        return (name, domain, hash64(name), hash64(domain), data_len, stand_in(domain),
                b"." in domain and domain != NO_DOMAIN)


def _dns_part(records, ev, mask, names: _DnsNames, kind: str, off=None, size=None):
    """(OBS_DTYPE block, positions in ev) of the observations of kind over events
    ev[mask] (the module docstring says which fields)."""
    at = np.flatnonzero(mask)
    rows, u = ev[at], names.of[at]
    block = np.zeros(len(at), dtype=OBS_DTYPE)
    block["row"], block["kind"] = rows, KIND_ID[kind]
    block["ts_us"] = records["ts_us"][rows]
    block["ip_version"] = records["ip_version"][rows]
    asker = records["src_addr" if kind == "dns.name" else "dest_addr"][rows]
    block["client"] = asker
    if kind == "dns.name":
        block["server"], block["key"] = names.server[u], names.key[u]
        block["key_len"], block["key_entropy"] = names.data_len[u], names.entropy[u]
    elif kind == "dns.nx":
        block["server"], block["key"], block["swap"] = records["src_addr"][rows], \
            names.domain_key[u], 1
    elif len(at):
        from wirescore._core.entropy import entropy_rows

        text = records["text"]
        o, n = off[at], size[at]
        block["server"], block["swap"], block["key_len"] = names.server[u], 1, n
        block["key"] = np.array([hash64(text[r, a:a + b].tobytes())
                                 for r, a, b in zip(rows.tolist(), o.tolist(), n.tolist())],
                                dtype=np.uint64)
        block["key_entropy"] = entropy_rows(text, rows, o, n)
    return block, at


class _DnsRaw:
    """The raw parts of DNS observations (Observations.words), made only when asked:
    observation i is of kind which[i] (0 dns.name, 1 dns.nx, 2 dns.txt) over event row
    rows[i], whose question is distinct name u[i]."""

    def __init__(self, records: np.ndarray, names: _DnsNames, which, rows, u):
        self.records, self.names = records, names
        self.which, self.rows, self.u = which, rows, u

    def __getitem__(self, i: int) -> tuple:
        r, u, which = int(self.rows[i]), int(self.u[i]), int(self.which[i])
        rec = self.records
        v = int(rec["ip_version"][r])
        src = _Address(rec["src_addr"][r].tobytes())
        dst = _Address(rec["dest_addr"][r].tobytes())
        name, domain = self.names.names[u], self.names.domains[u]
        if which == 0:
            return v, src, domain, name
        if which == 1:
            return v, dst, src, domain
        return v, dst, domain, name


#: DCE-RPC packet type REQUEST (C706 12.6.4.9); a request's event has no response type
_DCE_REQUEST = 0
_DCE_NONE = 0xFF
_NO_UUID = bytes(16)


def dcerpc_label(uuid: bytes, opnum: int) -> str:
    """An operation as the alert names it: "drsuapi DRSGetNCChanges (opnum 3)", the
    UUID's text for an interface not in win_names.DCERPC_SERVICES, "an unseen interface"
    when the connection's BIND was not captured (all-zero UUID)."""
    from wirescore.outputs.eve_dcerpc import uuid_text
    from wirescore.win_names import DCERPC_SERVICES

    if uuid == _NO_UUID:
        return f"opnum {opnum} of an unseen interface"
    text = uuid_text(uuid)
    service, procs = DCERPC_SERVICES.get(text, (text, {}))
    proc = procs.get(opnum)
    return f"{service} {proc} (opnum {opnum})" if proc else f"{service} opnum {opnum}"


def dcerpc_observations(records: np.ndarray) -> Observations:
    """The observations of DCE-RPC events (DCERPC_EVENT_DTYPE records): one dcerpc.op
    per REQUEST event (the module docstring says which fields)."""
    from wirescore.core_names import DCERPC_BITS

    obs = Observations()
    wanted = ((records["req_ptype"] == _DCE_REQUEST) & (records["res_ptype"] == _DCE_NONE)
              & (records["flags"] & DCERPC_BITS["DV_REQ"]).astype(bool))
    n_if, uuids, opnum = records["n_ifaces"], records["if_uuid"], records["opnum"]
    ts, version = records["ts_us"], records["ip_version"]
    for i in np.flatnonzero(wanted).tolist():
        uuid = uuids[i, :16].tobytes() if n_if[i] else _NO_UUID
        op = int(opnum[i])
        key = uuid + op.to_bytes(2, "little")
        src = _Address(records["src_addr"][i].tobytes())
        dst = _Address(records["dest_addr"][i].tobytes())
        obs.add(i, "dcerpc.op", int(ts[i]), src, dst, key, 0, 0.0, int(version[i]), 0,
                (src, dst, dcerpc_label(uuid, op)))
    return obs


_KRB_AS_REQ = 10                   # RFC 4120 5.4.1: AS-REQ's APPLICATION tag
_KRB_TGS_REQ = 12                  # RFC 4120 5.4.1: TGS-REQ's
_KRBTGT = b"krbtgt/"               # RFC 4120 7.3: the ticket-granting service's name


def _weak_only(records: np.ndarray, i: int) -> int:
    """1 when request i listed its etypes whole and every one is weak (no AES)."""
    from wirescore.msg_names import krb5_etype_weak

    n, kept = int(records["n_etypes"][i]), records["etypes"].shape[1]
    if n == 0 or n > kept:
        return 0
    return int(all(krb5_etype_weak(int(e)) for e in records["etypes"][i, :n]))


def krb5_observations(records: np.ndarray) -> Observations:
    """The observations of Kerberos events (KRB5_EVENT_DTYPE records): one krb5.user
    per AS-REQ with a client name, one krb5.sname per TGS-REQ for a service other than
    krbtgt (the module docstring says which fields)."""
    obs = Observations()
    msg_type = records["msg_type"]
    names, lens = records["cname"], records["cname_len"]
    snames, slens = records["sname"], records["sname_len"]
    ts, version = records["ts_us"], records["ip_version"]
    wanted = (((msg_type == _KRB_AS_REQ) & (lens > 0))
              | ((msg_type == _KRB_TGS_REQ) & (slens > 0)))
    for i in np.flatnonzero(wanted).tolist():
        src = _Address(records["src_addr"][i].tobytes())
        dst = _Address(records["dest_addr"][i].tobytes())
        if msg_type[i] == _KRB_AS_REQ:
            name = names[i, :int(lens[i])].tobytes().lower()
            obs.add(i, "krb5.user", int(ts[i]), src, dst, name, 0, 0.0, int(version[i]),
                    0, (src, dst, name))
            continue
        service = snames[i, :int(slens[i])].tobytes().lower().split(b"@")[0]
        if service.startswith(_KRBTGT):
            continue
        window = int(ts[i]) // (SNAME_WINDOW_S * 1_000_000)
        kdc = stand_in(b"krb5.sname:" + dst + window.to_bytes(8, "little", signed=True))
        weak = _weak_only(records, i)
        text = service.decode("utf-8", "backslashreplace") + (WEAK_TEXT if weak else "")
        obs.add(i, "krb5.sname", int(ts[i]), src, kdc, service, 0, 0.0, int(version[i]), 0,
                (src, dst, text), weak=weak)
    return obs


#: seconds after a host was sent an HTTP request in which its own request counts as
#: a server turned client (http.turn): an exploited server fetches its payload within
#: about a second (the labeled log4j exploit: 0.5 s); a page's own backend calls are
#: as quick, which is why the alert needs the pair to be new
TURN_SECONDS = 5.0
#: requests awaiting their response, and hosts remembered as recently served (each
#: bounded; the oldest entry goes first, counted in dropped)
HTTP_PENDING_MAX = 1 << 14
HTTP_SERVED_MAX = 1 << 14
#: request URIs and header values whose measured inputs an HttpObserver keeps (a
#: cache: a network's requests repeat a few URIs, agents and referers; the oldest goes
#: first, and forgetting one costs its measuring again, never an answer)
HTTP_MEMO_MAX = 1 << 12
_ERROR_STATUS = (400, 599)


class HttpObserver:
    """The observations of HTTP events (HTTP_EVENT_DTYPE records): http.fail, http.input
    and http.turn (the module docstring). Stateful across batches, so one per Detector:
    a response is paired with its request by (flow_id, tx_id) when both were seen
    (HTTP_PENDING_MAX requests wait; a response whose request was dropped or never seen
    gives no http.fail), and the hosts sent a request in the last TURN_SECONDS are kept
    (HTTP_SERVED_MAX). dropped counts the entries either bound pushed out."""

    def __init__(self):
        self.pending: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self.served: dict[bytes, tuple[int, bytes]] = {}
        self.dropped = 0
        self._memo: dict[tuple[bytes, bytes], tuple] = {}

    def __call__(self, records: np.ndarray) -> Observations:
        from wirescore.core_names import HTTP_BITS
        from wirescore.httpinput import path_of

        obs = Observations()
        resp = (records["flags"] & HTTP_BITS["HE_RESPONSE"]).tolist()
        offs, lens, text = records["field_off"].tolist(), records["field_len"].tolist(), \
            records["text"]
        ts, version = records["ts_us"].tolist(), records["ip_version"].tolist()
        status, port = records["status"].tolist(), records["dest_port"].tolist()
        flow, tx = records["flow_id"].tolist(), records["tx_id"].tolist()
        srcs, dsts = records["src_addr"].tobytes(), records["dest_addr"].tobytes()
        turn_us = int(TURN_SECONDS * 1e6)
        for i in range(len(records)):
            src = _Address(srcs[16 * i:16 * i + 16])
            dst = _Address(dsts[16 * i:16 * i + 16])
            v, t = version[i], ts[i]
            if resp[i]:
                req = self.pending.pop((flow[i], tx[i]), None)
                code = status[i]
                if req is not None and _ERROR_STATUS[0] <= code <= _ERROR_STATUS[1]:
                    op = req[0] + b" " + path_of(req[1])
                    obs.add(i, "http.fail", t, dst, src, op, code, 0.0, v, 1,
                            (dst, src, f"{text_of_bytes(op)} ({code})"))
                continue
            row, off, n = text[i], offs[i], lens[i]
            method, uri, agent, referer = (row[off[k]:off[k] + n[k]].tobytes()
                                           for k in (0, 1, 3, 4))
            self._remember(self.pending, (flow[i], tx[i]), (method, uri), HTTP_PENDING_MAX)
            path = path_of(uri)
            for name, value, found in (self._flagged(b"", uri)
                                       + self._flagged(b"User-Agent", agent)
                                       + self._flagged(b"Referer", referer)):
                key = method + b" " + path + b" " + name
                words = (f"{'+'.join(found)} in {text_of_bytes(name)} of "
                         f"{text_of_bytes(method)} {text_of_bytes(path)}: "
                         f"{text_of_bytes(value)}")
                obs.add(i, "http.input", t, src, dst, key, len(found), 0.0, v, 0,
                        (src, dst, words), scope="+".join(found).encode())
            was = self.served.get(src)
            if was is not None and t - was[0] <= turn_us and was[1] != dst:
                words = (f"{_addr_text(was[1], v)} ({(t - was[0]) / 1e6:.1f} s before: "
                         f"{text_of_bytes(method)} {text_of_bytes(path)})")
                obs.add(i, "http.turn", t, src, dst, dst + port[i].to_bytes(2, "little"), 0,
                        0.0, v, 0, (src, dst, words))
            self.served.pop(dst, None)
            self._remember(self.served, dst, (t, src), HTTP_SERVED_MAX)
        return obs

    def _flagged(self, header: bytes, raw: bytes) -> tuple:
        """The inputs of one part of a request that leave the data grammar, ((name,
        decoded value, escapes), ...) in input order: header b"" is the URI (its path,
        then each query parameter), else the header of that name. Kept in a bounded
        cache (HTTP_MEMO_MAX)."""
        got = self._memo.get((header, raw))
        if got is None:
            from wirescore.httpinput import decode, escapes, path_of, query_inputs

            if header:
                inputs = [(header, decode(raw, plus=False))]
            else:
                inputs = [(b"(path)", decode(path_of(raw), plus=False)), *query_inputs(raw)]
            got = tuple((name, value, found) for name, value in inputs
                        if (found := escapes(value)))
            self._memo[(header, raw)] = got
            if len(self._memo) > HTTP_MEMO_MAX:
                del self._memo[next(iter(self._memo))]
        return got

    def _remember(self, table: dict, key, value, limit: int) -> None:
        """table[key] = value, the oldest entry dropped (and counted) past limit."""
        table[key] = value
        if len(table) > limit:
            del table[next(iter(table))]
            self.dropped += 1


def text_of_bytes(b: bytes) -> str:
    """Bytes of a request as an alert quotes them (wirescore.outputs.eve_dns.text_of)."""
    from wirescore.outputs.eve_dns import text_of

    return text_of(b)


#: fileinfo kinds (msg_names.MAGIC names) that are code a host runs
EXE_MAGIC = ("pe", "mz", "elf", "macho", "macho-fat", "java-class")


def fileinfo_observations(records: np.ndarray) -> Observations:
    """The observations of fileinfo events (FILE_EVENT_DTYPE records): one http.exe per
    body that starts an executable (the module docstring)."""
    from wirescore.msg_names import MAGIC_NAMES

    obs = Observations()
    code = np.zeros(256, bool)                   # the magic column is a uint8 kind
    code[[MAGIC_NAMES.index(m) for m in EXE_MAGIC]] = True
    exe = code[records["magic"].astype(np.uint8)]
    ts, version = records["ts_us"], records["ip_version"]
    for i in np.flatnonzero(exe).tolist():
        kind = MAGIC_NAMES[int(records["magic"][i])]
        src = _Address(records["src_addr"][i].tobytes())
        dst = _Address(records["dest_addr"][i].tobytes())
        obs.add(i, "http.exe", int(ts[i]), dst, src, kind.encode(), 0, 0.0,
                int(version[i]), 1, (dst, src, kind))
    return obs


def _endpoint(addr: bytes, version: int, port: int) -> str:
    text = _addr_text(addr, version)
    return f"{text}:{port}" if version == 4 else f"[{text}]:{port}"


def smb_observations(records: np.ndarray) -> Observations:
    """The observations of SMB events (SMB_EVENT_DTYPE records): one smb.comp per
    SB_COMPRESSED event (the module docstring)."""
    from wirescore.core_names import SMB_BITS, SMB_COMP_VIOLATIONS

    obs = Observations()
    comp = (records["flags"] & SMB_BITS["SB_COMPRESSED"]).astype(bool)
    for i in np.flatnonzero(comp).tolist():
        r = records[i]
        v, bad = int(r["ip_version"]), int(r["comp_bad"])
        src, dst = _Address(r["src_addr"].tobytes()), _Address(r["dest_addr"].tobytes())
        said = [words for _, bit, words in SMB_COMP_VIOLATIONS if bad & bit]
        text = _Whole(f"OriginalCompressedSegmentSize 0x{int(r['comp_size']):x} + offset "
                      f"{int(r['comp_offset'])} from {_endpoint(src, v, int(r['src_port']))}"
                      f" to {_endpoint(dst, v, int(r['dest_port']))}; " + "; ".join(said))
        obs.add(i, "smb.comp", int(r["ts_us"]), src, dst, bad.to_bytes(2, "little"),
                len(said), 0.0, v, 0, (src, dst, text), scope=bad.to_bytes(2, "little"))
    return obs


#: the observations of each event kind wired so far; a class is a stateful extractor
#: (the Detector makes one per run and calls it with each batch)
EXTRACTORS = {"dns": DnsObserver, "dcerpc": dcerpc_observations,
              "krb5": krb5_observations, "http": HttpObserver,
              "fileinfo": fileinfo_observations, "smb": smb_observations}
