"""The UNSW-NB15 set: the 45 columns of UNSW_NB15_training-set.csv, from packets.

UNSW-NB15 (Moustafa & Slay, MilCIS 2015) computed its columns with Argus 3 and Bro 2
over the testbed's pcaps; its partitioned training / testing CSVs carry id, 42
features, attack_cat and label, in the order of COLUMNS below (the names, units and
categorical values are the dataset's: proto as Argus names the IP protocol, service as
Bro names the application, state as Argus names the transaction state).

Computed here from the core's flow records (ext/features.pxd), vectorised; where a
packet-derived value cannot match Argus/Bro the column's definition says how it
differs (docs: rules/README.md "Feature sets"). Summary of the differences:

- flows are the core's (bidirectional 5-tuple, idle timeouts, TCP close), not
  Argus's status-interval records: a long flow is one row, not several;
- bytes: Argus counts IP bytes (header included, link header not); the core keeps wire
  bytes, so sbytes/dbytes/smean/dmean/sload/dload take off `link_bytes` (14, Ethernet)
  a packet: a VLAN tag adds 4 a packet, and a padded Ethernet frame (IP packet under
  46 bytes: a bare TCP ACK) counts 46 bytes, not its IP length;
- sttl/dttl, swin/dwin: the first packet's of each direction;
- sload/dload: Argus's load is over spkts-1 inter-packet gaps; the core does not keep
  which packet to leave out, so the direction's mean size is taken off its bytes;
- sjit/djit: the sample standard deviation of the gaps (Argus's jitter estimator is
  not documented in the dataset);
- service: the core's app-layer parser when it recognised the flow (http, ssl from TLS,
  dns, ssh); for protocols the core has no parser for (ftp, ftp-data, smtp, pop3, snmp,
  dhcp, irc, radius), the server port when payload went both ways (Bro's dynamic
  protocol detection would confirm it by content); else "-";
- ct_*: counted over the last 100 flows in the order the core reports them (a flow that
  ends by idle timeout is reported up to its timeout after its last packet; the
  dataset sorts by last-packet time); with --workers, over each worker's flows;
- not computed (NaN; the core keeps no per-packet value for them): sloss, dloss (TCP
  retransmissions need sequence tracking), stcpb, dtcpb (initial sequence numbers),
  response_body_len (HTTP body lengths), is_ftp_login, ct_ftp_cmd (no FTP parser),
  ct_state_ttl (the dataset's TTL ranges per state are not published);
- id: the row's number (1-based, in flow-end order); attack_cat and label are ground
  truth, never computed from packets (empty).
"""
from __future__ import annotations

import numpy as np

from wirescore.core_names import APP_PROTO_NAMES
from wirescore.featuresets.base import Column, FeatureSet
from wirescore.featuresets.recent import RecentCounter

#: Argus's names of IP protocols (IANA keywords, lower case) for the numbers seen in
#: practice; any other protocol is written as its number
PROTO_NAMES = {1: "icmp", 2: "igmp", 4: "ipnip", 6: "tcp", 17: "udp", 41: "ipv6",
               47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 89: "ospf", 103: "pim",
               112: "vrrp", 132: "sctp"}
#: the training CSV's service values
SERVICES = ("-", "http", "ftp", "ftp-data", "smtp", "pop3", "dns", "snmp", "ssl", "dhcp",
            "irc", "radius", "ssh")
#: the training CSV's state values (Argus)
STATES = ("FIN", "INT", "CON", "REQ", "RST", "ACC", "CLO", "ECO", "ECR", "URH", "URN",
          "URP", "TXD", "PAR", "no")
#: the core's app_proto -> service
APP_SERVICE = {"http": "http", "tls": "ssl", "dns": "dns", "ssh": "ssh"}
#: server port -> service, for protocols the core has no parser for
PORT_SERVICE = {20: "ftp-data", 21: "ftp", 25: "smtp", 110: "pop3", 161: "snmp",
                162: "snmp", 67: "dhcp", 68: "dhcp", 6667: "irc", 1812: "radius",
                1813: "radius"}
#: (IP protocol, ICMP type, code or None: any) of the flow's first packet -> Argus state
ICMP_STATES = {(1, 8, None): "ECO", (1, 0, None): "ECR", (1, 3, None): "URH",
               (1, 3, 0): "URN", (1, 3, 1): "URH", (1, 3, 3): "URP", (1, 11, None): "TXD",
               (58, 128, None): "ECO", (58, 129, None): "ECR", (58, 1, None): "URH",
               (58, 1, 0): "URN", (58, 1, 3): "URH", (58, 1, 4): "URP",
               (58, 3, None): "TXD"}
WINDOW = 100           # ct_*: the last 100 connections
NAN = float("nan")


def _c(name, unit, text, kind="numeric", computed=True, vocabulary=()):
    return Column(name, unit, text, kind, computed, vocabulary)


COLUMNS: tuple[Column, ...] = (
    _c("id", "row", "row number, 1-based in flow-end order", kind="id"),
    _c("dur", "s", "record total duration: last packet time minus first"),
    _c("proto", "name", "transaction protocol, Argus's IANA keyword (tcp, udp, icmp, "
       "ipv6-icmp, ...); a protocol without a keyword here as its number; no ARP (the "
       "core's flows are IP)", kind="categorical",
       vocabulary=tuple(PROTO_NAMES.values())),
    _c("service", "name", "application: http, ssl, dns, ssh from the core's parser; ftp, "
       "ftp-data, smtp, pop3, snmp, dhcp, irc, radius by server port when payload went "
       "both ways; '-' otherwise (Bro confirms by content)", kind="categorical",
       vocabulary=SERVICES),
    _c("state", "name", "Argus state: TCP RST (any RST), FIN (any FIN), REQ (SYN "
       "unanswered), ACC (SYN/ACK, handshake not completed), CON (both ways), INT (one "
       "way); UDP and others CON/INT; ICMP by the first type: ECO, ECR, URN, URH, URP, "
       "TXD", kind="categorical", vocabulary=STATES),
    _c("spkts", "packets", "source to destination packets"),
    _c("dpkts", "packets", "destination to source packets"),
    _c("sbytes", "bytes", "source to destination IP bytes: wire bytes minus link_bytes "
       "(14) a packet (a padded Ethernet frame counts 46, a VLAN tag 4 more)"),
    _c("dbytes", "bytes", "destination to source IP bytes, as sbytes"),
    _c("rate", "packets/s", "(spkts + dpkts - 1) / dur, as the dataset; 0 when dur is 0"),
    _c("sttl", "hops", "source to destination IP TTL (first packet's)"),
    _c("dttl", "hops", "destination to source IP TTL (first packet's; 0 without one)"),
    _c("sload", "bits/s", "source bits per second: (sbytes - smean) * 8 / dur (Argus "
       "leaves one packet out; the core keeps the mean, not that packet); 0 when dur is 0"),
    _c("dload", "bits/s", "destination bits per second, as sload"),
    _c("sloss", "packets", "source packets retransmitted or dropped: needs TCP sequence "
       "tracking the core does not keep", computed=False),
    _c("dloss", "packets", "destination packets retransmitted or dropped, as sloss",
       computed=False),
    _c("sinpkt", "ms", "source mean inter-packet arrival time; 0 under 2 packets"),
    _c("dinpkt", "ms", "destination mean inter-packet arrival time; 0 under 2 packets"),
    _c("sjit", "ms", "source jitter: sample standard deviation of the gaps (Argus's "
       "estimator is not stated by the dataset); 0 under 3 packets"),
    _c("djit", "ms", "destination jitter, as sjit"),
    _c("swin", "bytes", "source TCP window advertisement (unscaled, first packet's); 0 "
       "for non-TCP"),
    _c("stcpb", "number", "source TCP base sequence number: the core keeps no sequence "
       "numbers", computed=False),
    _c("dtcpb", "number", "destination TCP base sequence number, as stcpb", computed=False),
    _c("dwin", "bytes", "destination TCP window advertisement, as swin"),
    _c("tcprtt", "s", "TCP setup round-trip time, synack + ackdat"),
    _c("synack", "s", "time from SYN to SYN/ACK; 0 when not seen"),
    _c("ackdat", "s", "time from SYN/ACK to the client's ACK; 0 when not seen"),
    _c("smean", "bytes", "mean IP packet size source to destination (sbytes / spkts, "
       "rounded as the dataset's integers); 0 without packets"),
    _c("dmean", "bytes", "mean IP packet size destination to source, as smean"),
    _c("trans_depth", "transactions", "HTTP request/response transactions in the flow "
       "(requests whose headers the core read); 0 for other services"),
    _c("response_body_len", "bytes", "HTTP response body size: the core keeps no body "
       "length", computed=False),
    _c("ct_srv_src", "flows", "flows of the same service and source address among the "
       "last 100 (this one included)"),
    _c("ct_state_ttl", "code", "the dataset's code for ranges of sttl/dttl per state: its "
       "ranges are not published", computed=False),
    _c("ct_dst_ltm", "flows", "flows to the same destination address among the last 100"),
    _c("ct_src_dport_ltm", "flows", "flows of the same source address and destination "
       "port among the last 100"),
    _c("ct_dst_sport_ltm", "flows", "flows of the same destination address and source "
       "port among the last 100"),
    _c("ct_dst_src_ltm", "flows", "flows of the same source and destination addresses "
       "among the last 100"),
    _c("is_ftp_login", "0/1", "FTP session logged in with user and password: the core "
       "has no FTP parser", computed=False),
    _c("ct_ftp_cmd", "commands", "FTP commands in the session: no FTP parser",
       computed=False),
    _c("ct_flw_http_mthd", "requests", "HTTP requests with a method (GET, POST, ...) in "
       "the flow: every request the core read has one, so trans_depth again"),
    _c("ct_src_ltm", "flows", "flows of the same source address among the last 100"),
    _c("ct_srv_dst", "flows", "flows of the same service and destination address among "
       "the last 100"),
    _c("is_sm_ips_ports", "0/1", "1 when source and destination addresses are equal and "
       "so are the ports"),
    _c("attack_cat", "name", "attack category (Normal, Generic, Exploits, ...): ground "
       "truth, empty", kind="label", computed=False),
    _c("label", "0/1", "0 normal, 1 attack: ground truth, empty", kind="label",
       computed=False),
)


def proto_names(proto: np.ndarray) -> np.ndarray:
    """Argus protocol names of IP protocol numbers."""
    out = np.array([str(int(p)) for p in proto], dtype=object)
    for number, name in PROTO_NAMES.items():
        out[proto == number] = name
    return out


def services(r: np.ndarray) -> np.ndarray:
    """Bro-style service names of records (see the module docstring)."""
    out = np.full(len(r), "-", dtype=object)
    both = (r["payload_bytes_toserver"] > 0) & (r["payload_bytes_toclient"] > 0)
    for port, name in PORT_SERVICE.items():
        out[both & (r["dest_port"] == port) & (r["proto"] != 1)] = name
    app = r["app_proto"].astype(np.int64)
    for code, name in enumerate(APP_PROTO_NAMES):
        if name in APP_SERVICE:
            out[app == code] = APP_SERVICE[name]
    return out


def states(r: np.ndarray) -> np.ndarray:
    """Argus transaction states of records (see COLUMNS' state)."""
    back = r["pkts_toclient"] > 0
    out = np.where(back, "CON", "INT").astype(object)
    tcp = r["proto"] == 6
    synack_seen = r["syn_toclient"] > 0
    handshake_done = r["tcp_synack_ack_delay"] >= 0
    req = tcp & (r["syn_toserver"] > 0) & ~back
    acc = tcp & synack_seen & ~handshake_done & back
    fin = tcp & ((r["fin_toserver"] + r["fin_toclient"]) > 0)
    rst = tcp & ((r["rst_toserver"] + r["rst_toclient"]) > 0)
    out[req], out[acc], out[fin], out[rst] = "REQ", "ACC", "FIN", "RST"
    seen = (r["icmp_seen"] & 1) > 0
    itype, icode = r["icmp_type_ts"].astype(int), r["icmp_code_ts"].astype(int)
    # any-code entries first, so that a code's own entry wins
    for (proto, t, code), name in sorted(ICMP_STATES.items(), key=lambda kv: kv[0][2] is not None):
        sel = seen & (r["proto"] == proto) & (itype == t)
        out[sel if code is None else sel & (icode == code)] = name
    return out


def _per_second(value: np.ndarray, dur: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dur > 0, value / np.where(dur > 0, dur, 1.0), 0.0)


def _volumes(r: np.ndarray, link_bytes: int) -> dict:
    """spkts .. dload, smean, dmean."""
    dur = r["duration"].astype(np.float64)
    cols = {"dur": dur}
    for side, d in (("s", "toserver"), ("d", "toclient")):
        pkts = r[f"pkts_{d}"].astype(np.float64)
        ip_bytes = np.maximum(r[f"bytes_{d}"].astype(np.float64) - link_bytes * pkts, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(pkts > 0, ip_bytes / np.where(pkts > 0, pkts, 1), 0.0)
        cols[f"{side}pkts"], cols[f"{side}bytes"] = pkts, ip_bytes
        cols[f"{side}mean"] = np.floor(mean + 0.5)
        cols[f"{side}load"] = _per_second((ip_bytes - mean) * 8.0, dur)
        cols[f"{side}inpkt"] = np.where(pkts >= 2, r[f"iat_mean_{d}"] / 1000.0, 0.0)
        # the core's iat_std divides by the gaps (ext/features.pxd): made the sample one
        gaps = np.maximum(pkts - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            bessel = np.sqrt(gaps / np.maximum(gaps - 1, 1))
        cols[f"{side}jit"] = np.where(pkts >= 3, r[f"iat_std_{d}"] * bessel / 1000.0, 0.0)
        cols[f"{side}ttl"] = np.where(pkts > 0, r[f"ttl_first_{d}"], 0.0)
        cols[f"{side}win"] = np.where(r["proto"] == 6, r[f"win_first_{d}"], 0.0)
    cols["rate"] = _per_second(cols["spkts"] + cols["dpkts"] - 1, dur)
    return cols


def _address_keys(r: np.ndarray, service_code: np.ndarray) -> dict[str, np.ndarray]:
    """The ct_* columns' keys as byte rows."""
    src, dst = r["src_addr"].reshape(len(r), 16), r["dest_addr"].reshape(len(r), 16)
    sport = r["src_port"].astype(">u2").view(np.uint8).reshape(len(r), 2)
    dport = r["dest_port"].astype(">u2").view(np.uint8).reshape(len(r), 2)
    srv = service_code.astype(np.uint8).reshape(len(r), 1)
    return {"ct_srv_src": np.hstack([srv, src]), "ct_srv_dst": np.hstack([srv, dst]),
            "ct_dst_ltm": dst, "ct_src_ltm": src,
            "ct_src_dport_ltm": np.hstack([src, dport]),
            "ct_dst_sport_ltm": np.hstack([dst, sport]),
            "ct_dst_src_ltm": np.hstack([src, dst])}


class UnswComputer:
    """Batches of flow records (flow-end order) -> the set's columns; keeps the row
    number and the ct_* windows between batches. link_bytes: the link header a packet
    (14: Ethernet; 0 for raw IP captures)."""

    def __init__(self, link_bytes: int = 14):
        self.link_bytes = link_bytes
        self.rows = 0
        self._ct = {name: RecentCounter(WINDOW) for name in
                    ("ct_srv_src", "ct_srv_dst", "ct_dst_ltm", "ct_src_ltm",
                     "ct_src_dport_ltm", "ct_dst_sport_ltm", "ct_dst_src_ltm")}

    def __call__(self, r: np.ndarray) -> dict[str, np.ndarray]:
        n = len(r)
        cols = _volumes(r, self.link_bytes)
        cols["id"] = np.arange(self.rows + 1, self.rows + n + 1, dtype=np.float64)
        self.rows += n
        cols["proto"] = proto_names(r["proto"])
        cols["service"] = services(r)
        cols["state"] = states(r)
        delays = {}
        for name, field in (("synack", "tcp_syn_synack_delay"),
                            ("ackdat", "tcp_synack_ack_delay")):
            v = r[field].astype(np.float64)
            delays[name] = np.where(v >= 0, v / 1e6, 0.0)
        cols.update(delays)
        cols["tcprtt"] = delays["synack"] + delays["ackdat"]
        http = np.where(cols["service"] == "http", r["app_http_requests"], 0).astype(float)
        cols["trans_depth"] = cols["ct_flw_http_mthd"] = http
        code = np.array([SERVICES.index(s) for s in cols["service"]], dtype=np.int64)
        for name, keys in _address_keys(r, code).items():
            cols[name] = self._ct[name].count(keys).astype(np.float64)
        same = (np.all(r["src_addr"].reshape(n, 16) == r["dest_addr"].reshape(n, 16), 1)
                & (r["src_port"] == r["dest_port"]))
        cols["is_sm_ips_ports"] = same.astype(np.float64)
        for c in COLUMNS:
            if not c.computed:
                cols[c.name] = (np.full(n, "", dtype=object) if c.kind == "label"
                                else np.full(n, NAN))
        return {c.name: cols[c.name] for c in COLUMNS}


SET = FeatureSet("unsw-nb15", "UNSW-NB15 training/testing CSV columns (Argus + Bro), "
                 "from packets", COLUMNS, UnswComputer)
