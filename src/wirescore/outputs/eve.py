"""EVE-JSON output: Suricata's field names and types, one JSON object per line.

flow events: one per finished flow (timestamp = flow start, as Suricata's flow log).
stats events: decoder / flow / capture counters, nested like Suricata's stats.

Times are UTC with microseconds and a "+0000" offset (deterministic: a replay gives
byte-identical lines on any machine). The file (outputs/eve_file.py EveWriter) is
opened for appending, as Suricata does, created with mode 0640 (it describes other
people's traffic); every line is written whole, and reopen() (SIGHUP) starts a new file
for logrotate.
"""
from __future__ import annotations

import math
import socket
import time
from typing import Any, Iterable, Mapping, Optional

import numpy as np

# the core's names, indexed as the record's fields are
from wirescore.core_names import APP_PROTO_NAMES, PORT_PROTOS, PROTO_NAMES
from wirescore.core_names import REASON_NAMES as REASONS
from wirescore.core_names import STATE_NAMES as STATES
from wirescore.core_names import TCP_FLAG_NAMES as _FLAG_NAMES
from wirescore.core_names import TCP_STATE_NAMES as TCP_STATES
from wirescore.outputs.community_id import community_id
# the file writers live in eve_file.py; named here too, where callers have found them
from wirescore.outputs.eve_file import EveWriter, StdoutWriter, _dumps  # noqa: F401



def proto_name(proto: int) -> str:
    """Suricata's proto string: its name of the IP protocol (core_names.IP_PROTO_NAMES,
    0..143), else the number as digits."""
    return PROTO_NAMES.get(proto, str(proto))


class Timestamps:
    """Format microseconds since the epoch as Suricata does, caching the seconds part."""

    def __init__(self):
        self._sec = None
        self._prefix = ""

    def __call__(self, us: int) -> str:
        sec, frac = divmod(int(us), 1_000_000)
        if sec != self._sec:
            self._sec = sec
            try:
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            except (OverflowError, OSError, ValueError):
                self._prefix = "1970-01-01T00:00:00"
        return f"{self._prefix}.{frac:06d}+0000"


def ip_text(addr: bytes, version: int) -> str:
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, addr[:4])
    return socket.inet_ntop(socket.AF_INET6, addr[:16])


def add_ether(ev: dict, record) -> None:
    """ev["ether"] = {src_mac, dest_mac} of a record's flow when it has MACs (a flow or
    update record of an Ethernet capture; an attempt record has none)."""
    if "src_mac" not in record.dtype.names:
        return
    src, dst = bytes(record["src_mac"]), bytes(record["dest_mac"])
    if any(src) or any(dst):
        ev["ether"] = {"src_mac": mac_text(src), "dest_mac": mac_text(dst)}


def mac_text(mac: bytes) -> str:
    """aa:bb:cc:dd:ee:ff, lower case (as Suricata)."""
    return ":".join(f"{b:02x}" for b in mac[:6])


def tcp_flags_hex(flags: int) -> str:
    return format(flags, "02x")


class FlowEventFormatter:
    """Turns RECORD_DTYPE arrays into EVE flow event dicts (what --export and the
    on_flow callback get; eve.json's flow lines are formatted in C, _core.eve)."""

    def __init__(self, community_id_seed: int = 0, ether: bool = False):
        """ether: events carry ether{src_macs, dest_macs} (the first packet's MACs) for
        flows that have them, as the C lines with outputs.eve.ethernet."""
        self.seed = community_id_seed
        self.ether = ether
        self.ts = Timestamps()

    def events(self, records: np.ndarray, alerted: Iterable[bool] | None = None
               ) -> Iterable[dict[str, Any]]:
        names = records.dtype.names
        ix = {n: i for i, n in enumerate(names)}
        alerted_list = list(alerted) if alerted is not None else None
        for n, row in enumerate(records.tolist()):
            yield self._event(row, ix, bool(alerted_list[n]) if alerted_list else False)

    def _event(self, row: tuple, ix: Mapping[str, int], alerted: bool) -> dict[str, Any]:
        ts = self.ts
        version = row[ix["ip_version"]]
        proto = row[ix["proto"]]
        alen = 4 if version == 4 else 16
        src = bytes(row[ix["src_addr"]][:alen])
        dst = bytes(row[ix["dest_addr"]][:alen])
        start_us, end_us = row[ix["start_us"]], row[ix["end_us"]]
        ev: dict[str, Any] = {"timestamp": ts(start_us), "flow_id": row[ix["flow_id"]]}
        nvlan = row[ix["nvlan"]]
        if nvlan:
            ev["vlan"] = [row[ix["vlan0"]], row[ix["vlan1"]]][:nvlan]
        ev["src_ip"] = ip_text(src, version)
        has_ports = proto in PORT_PROTOS
        sport, dport = row[ix["src_port"]], row[ix["dest_port"]]
        if has_ports:
            ev["src_port"] = sport
        ev["dest_ip"] = ip_text(dst, version)
        if has_ports:
            ev["dest_port"] = dport
        ev["proto"] = proto_name(proto)
        icmp_seen = row[ix["icmp_seen"]]
        is_icmp = (proto == 1 and version == 4) or (proto == 58 and version == 6)
        if is_icmp and icmp_seen & 1:
            ev["icmp_type"] = row[ix["icmp_type_ts"]]
            ev["icmp_code"] = row[ix["icmp_code_ts"]]
        if is_icmp and icmp_seen & 2:
            ev["response_icmp_type"] = row[ix["icmp_type_tc"]]
            ev["response_icmp_code"] = row[ix["icmp_code_tc"]]
        if has_ports:
            cid = community_id(proto, src, dst, sport, dport, self.seed)
        elif is_icmp and icmp_seen & 1:
            cid = community_id(proto, src, dst, row[ix["icmp_type_ts"]],
                               row[ix["icmp_code_ts"]], self.seed)
        else:
            cid = community_id(proto, src, dst, None, None, self.seed)
        ev["community_id"] = cid
        ev["event_type"] = "flow"
        app_proto = APP_PROTO_NAMES[row[ix["app_proto"]]]
        if app_proto:
            ev["app_proto"] = app_proto
        if self.ether:
            macs = bytes(row[ix["src_mac"]]), bytes(row[ix["dest_mac"]])
            if any(macs[0]) or any(macs[1]):
                ev["ether"] = {"src_macs": [mac_text(macs[0])],
                               "dest_macs": [mac_text(macs[1])]}
        state = row[ix["state"]]
        ev["flow"] = {
            "pkts_toserver": row[ix["pkts_toserver"]],
            "pkts_toclient": row[ix["pkts_toclient"]],
            "bytes_toserver": row[ix["bytes_toserver"]],
            "bytes_toclient": row[ix["bytes_toclient"]],
            "start": ts(start_us),
            "end": ts(end_us),
            "age": int(end_us // 1_000_000 - start_us // 1_000_000),
            "state": STATES[state],
            "reason": REASONS[row[ix["reason"]]],
            "alerted": alerted,
        }
        if proto == 6:
            fts, ftc = row[ix["tcp_flags_ts"]], row[ix["tcp_flags_tc"]]
            tcp: dict[str, Any] = {"tcp_flags": tcp_flags_hex(fts | ftc),
                                   "tcp_flags_ts": tcp_flags_hex(fts),
                                   "tcp_flags_tc": tcp_flags_hex(ftc)}
            for bit, name in _FLAG_NAMES:
                if (fts | ftc) & bit:
                    tcp[name] = True
            tcp["state"] = TCP_STATES[row[ix["tcp_state"]]]
            ev["tcp"] = tcp
        return ev


def nest(flat: Mapping[str, int]) -> dict[str, Any]:
    """{'decoder.event.ipv4.trunc_pkt': 3} -> {'decoder': {'event': {'ipv4': {...}}}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def common_fields(sensor_name: Optional[str] = None, pcap_filename: Optional[str] = None,
                  in_iface: Optional[str] = None) -> bytes:
    """The fields Suricata adds to every EVE line of a run, as the JSON fragment that
    eve.pyx splice_fields puts before each line's closing brace: ',"host":NAME'
    (sensor-name), ',"pcap_filename":PATH' (pcap-file: yes, reading a file) and
    ',"in_iface":IFACE' (live capture: the interface; not on stats lines, as
    Suricata's), JSON strings (escaped, ASCII); None or "" leaves a field out (Suricata
    writes no host without a sensor-name). b"" when none: then no line is touched."""
    fields = {"in_iface": in_iface, "host": sensor_name, "pcap_filename": pcap_filename}
    return "".join(f",{_dumps(k)}:{_dumps(v)}" for k, v in fields.items() if v
                   ).encode("ascii")


def stats_event(counters: Mapping[str, int], ts_us: int, ts: Timestamps | None = None
                ) -> dict[str, Any]:
    """A Suricata-style stats event from dotted counter names (schema names only)."""
    ts = ts or Timestamps()
    return {"timestamp": ts(ts_us), "event_type": "stats", "stats": nest(counters)}


def engine_event(ts_us: int, level: str, module: str, message: str,
                 ts: Timestamps | None = None) -> dict[str, Any]:
    """An EVE engine event (Suricata's engine log line in EVE): log_level is
    "Warning", "Info"..., module the part of wirescore that speaks."""
    stamp = (ts or Timestamps())(ts_us)
    return {"timestamp": stamp, "event_type": "engine", "log_level": level,
            "engine": {"module": module, "message": message}}


def alert_event(flow_event: Mapping[str, Any], alert, end_ts: str) -> dict[str, Any]:
    """The EVE alert for one alerted flow: the flow's identity and flow object, and
    alert{...} with the anomaly facts under alert.metadata (string arrays, as
    Emerging Threats rules carry metadata). Timestamp: when the flow was decided."""
    ev: dict[str, Any] = {"timestamp": end_ts}
    for key in ("flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
                "icmp_type", "icmp_code", "response_icmp_type", "response_icmp_code",
                "community_id"):
        if key in flow_event:
            ev[key] = flow_event[key]
    ev["event_type"] = "alert"
    if "ether" in flow_event:      # a packet's MACs, as Suricata's alerts: the first one's
        ether = flow_event["ether"]
        ev["ether"] = {"src_mac": ether["src_macs"][0], "dest_mac": ether["dest_macs"][0]}
    extra = {"wirescore_features": _features(alert)} if alert.explanation else {}
    ev["alert"] = _alert_object(alert, alert.profile.unit, extra)
    flow = dict(flow_event["flow"])
    flow["alerted"] = True
    ev["flow"] = flow
    return ev


#: what the number after each explained feature is, by model (default: a z-score)
EXPLAIN_LABELS = {"extreme": "doublings", "tail": "tail"}


def _features(alert) -> list[str]:
    """The explanation as metadata strings: "feature=value (z=+3.10)", how many
    standard deviations from its running mean; for the extreme model
    "quantity=value (doublings=+1.20)", how far beyond its reference; for the tail model
    "feature=value (tail=+0.91)", the feature's own tail score (models/tail.py: at most
    (1 + window) ** (1 - tail) - 1 of the reference's samples were as large)."""
    label = EXPLAIN_LABELS.get(alert.profile.model["name"], "z")
    return [f"{name}={value:.6g} ({label}={z:+.2f})" for name, value, z in alert.explanation]


def window_alert_event(window, alert, ts: Timestamps, seed: int = 0) -> dict[str, Any]:
    """The EVE alert for one window: flow_id and tuple of a representative flow (the
    flow of the key's latest packet in the window, its addresses and ports as that
    packet was sent, so the key is src_ip for key src and dest_ip for key dst, and a
    query on either finds it), the window's bounds and figures under alert.metadata.
    An early record's (an open window's, at its checkpoint packet: the representative
    is that packet's flow) is stamped at that packet, its bounds end there, and
    alert.metadata.wirescore_crossed says what crossed since the window's start. Joins
    its flow event on flow_id."""
    p = alert.profile
    ev: dict[str, Any] = {"timestamp": ts(int(window["end_us"]))}
    rep = int(window["rep_version"])
    if rep:
        ev["flow_id"] = int(window["flow_id"])
        ev["src_ip"] = ip_text(bytes(window["src"]), rep)
        if window["has_ports"]:
            ev["src_port"] = int(window["src_port"])
        ev["dest_ip"] = ip_text(bytes(window["dst"]), rep)
        if window["has_ports"]:
            ev["dest_port"] = int(window["dest_port"])
        proto = int(window["proto"])
        ev["proto"] = proto_name(proto)
        # ports, or an ICMP packet's type and code (in the port fields): the Community
        # ID of the representative's flow when that flow began with this packet's type
        # or its pair's (echo request and reply hash alike); other protocols have none
        if window["has_ports"] or (proto == 1 and rep == 4) or (proto == 58 and rep == 6):
            size = 4 if rep == 4 else 16
            ev["community_id"] = community_id(
                proto, bytes(window["src"])[:size], bytes(window["dst"])[:size],
                int(window["src_port"]), int(window["dest_port"]), seed)
    else:
        version = int(window["ip_version"])
        if version:
            addr = ip_text(bytes(window["addr"]), version)
            ev["src_ip" if p.window_key == "src" else "dest_ip"] = addr
    ev["event_type"] = "alert"
    extra = {"wirescore_window": [f"{p.window_key} {ts(int(window['start_us']))} "
                                  f"{ts(int(window['end_us']))}"]}
    if window["early"]:
        extra["wirescore_crossed"] = [_crossed_since(alert, int(window["start_us"]), ts)]
    if alert.explanation:
        extra["wirescore_features"] = _features(alert)
    ev["alert"] = _alert_object(alert, "window", extra)
    return ev


def anomaly_events(records, ts: Timestamps) -> list[dict[str, Any]]:
    """Suricata's decode anomaly event for each AnomalyRecord (ext/anomaly.pxd): the
    frame's time, its addresses once an IP header was read (and its protocol once known),
    and anomaly{type: decode, event: the decoder event's name as Suricata writes it,
    e.g. decoder.ipv4.trunc_pkt (its stats counter is decoder.event.ipv4.trunc_pkt); a
    fault Suricata has no event for keeps wirescore's counter name, e.g.
    wirescore.nflog_bad_tlv}."""
    from wirescore.core_names import COUNTER_NAMES

    out = []
    for r in records:
        ev: dict[str, Any] = {"timestamp": ts(int(r["ts_us"]))}
        version = int(r["ip_version"])
        if version:
            ev["src_ip"] = ip_text(bytes(r["src"]), version)
            if r["has_ports"]:
                ev["src_port"] = int(r["sport"])
            ev["dest_ip"] = ip_text(bytes(r["dst"]), version)
            if r["has_ports"]:
                ev["dest_port"] = int(r["dport"])
            if r["proto"]:
                ev["proto"] = proto_name(int(r["proto"]))
        ev["event_type"] = "anomaly"
        name = COUNTER_NAMES[int(r["event"])].replace("decoder.event.", "decoder.", 1)
        ev["anomaly"] = {"type": "decode", "event": name}
        out.append(ev)
    return out


def app_alert_event(app_event: Mapping[str, Any], alert, ts: Timestamps) -> dict[str, Any]:
    """The EVE alert of an app profile: the flow identity of the app-layer event it is
    about (flow_id, tuple, community_id), turned so that src is the observation's
    client (an answer's destination); stamped at the event's packet; what was new in
    alert.metadata.wirescore_firstseen and the observation's counts beside it."""
    p = alert.profile
    o = alert.observation
    ev: dict[str, Any] = {"timestamp": ts(int(o["ts_us"]))}
    for key in ("flow_id", "vlan", "src_ip", "src_port", "dest_ip", "dest_port", "proto",
                "community_id"):
        if key in app_event:
            ev[key] = app_event[key]
    if o["swap"]:
        ev["src_ip"], ev["dest_ip"] = app_event["dest_ip"], app_event["src_ip"]
        ev["src_port"], ev["dest_port"] = app_event["dest_port"], app_event["src_port"]
    ev["event_type"] = "alert"
    ev["alert"] = _alert_object(alert, "app", {
        "wirescore_firstseen": [alert.message],
        "wirescore_features": [f"{name}={o[name]:.6g}" for name in p.features]})
    ev["app_proto"] = app_event.get("event_type", "")
    return ev


def mac_text(mac) -> str:
    """aa:bb:cc:dd:ee:ff of 6 bytes (as Suricata writes MACs)."""
    return ":".join(f"{b:02x}" for b in bytes(mac))


#: EVE arp.opcode by ARP operation (Suricata's names)
ARP_OPCODES = {1: "request", 2: "reply"}


def arp_alert_event(record, alert, ts: Timestamps) -> dict[str, Any]:
    """The EVE alert of an ARP profile: the frame's sender as src_ip, its target as
    dest_ip, the frame itself as Suricata's `arp` object (hw_type, proto_type, opcode,
    src/dest MAC and IP); stamped at the frame; a binding change names the MAC that held
    the address before under alert.metadata.wirescore_arp; no flow."""
    sender, target = ip_text(bytes(record["sender_ip"]), 4), ip_text(bytes(record["target_ip"]), 4)
    ev: dict[str, Any] = {"timestamp": ts(int(record["ts_us"]))}
    if int(record["vlan0"]):
        ev["vlan"] = [int(record["vlan0"])]
    ev.update(src_ip=sender, dest_ip=target, event_type="alert")
    extra: dict[str, Any] = {}
    if int(record["binding_change"]):
        extra["wirescore_arp"] = [
            f"{sender} claimed by {mac_text(record['sender_mac'])}, held by "
            f"{mac_text(record['prior_mac'])} {float(record['prior_age_s']):.3f} s before"]
    if alert.explanation:
        extra["wirescore_features"] = _features(alert)
    ev["alert"] = _alert_object(alert, "arp", extra)
    ev["arp"] = {"hw_type": "ethernet", "proto_type": "ipv4",
                 "opcode": ARP_OPCODES.get(int(record["op"]), str(int(record["op"]))),
                 "src_mac": mac_text(record["sender_mac"]), "src_ip": sender,
                 "dest_mac": mac_text(record["target_mac"]), "dest_ip": target}
    return ev


def attempt_alert_event(record, alert, ts: Timestamps, seed: int = 0) -> dict[str, Any]:
    """The EVE alert of a flow profile at a connection attempt (evidence: attempt): the
    attempt's flow identity (client as src), stamped at the packet time at which the
    attempt was confirmed unanswered (ts_us); alert.metadata.wirescore_crossed says
    what crossed: the quantity, its value, its reference (extreme: the floor or twice
    the network's own quantile), and since when (its key's first confirmed failure
    still counted); no flow
    object (the flow event follows at the flow's end, with alerted set)."""
    ev = _open_flow_head(record, int(record["ts_us"]), ts, seed)
    extra = {"wirescore_crossed": [_crossed(alert, record, ts)]}
    if alert.explanation:
        extra["wirescore_features"] = _features(alert)
    ev["alert"] = _alert_object(alert, "attempt", extra)
    return ev


def update_alert_event(record, alert, ts: Timestamps, seed: int = 0) -> dict[str, Any]:
    """The EVE alert of a flow profile at an update of an open flow (evidence: update):
    the flow's identity (client as src), stamped at the update's packet (end_us: the
    flow's last packet so far); alert.metadata.wirescore_crossed says what crossed, as
    an attempt alert's does, since the flow's first packet; no flow object (the flow
    event follows at the flow's end, with alerted set)."""
    ev = _open_flow_head(record, int(record["end_us"]), ts, seed)
    extra = {"wirescore_crossed": [_crossed_since(alert, int(record["start_us"]), ts)]}
    if alert.explanation:
        extra["wirescore_features"] = _features(alert)
    ev["alert"] = _alert_object(alert, "update", extra)
    return ev


def _open_flow_head(record, stamp_us: int, ts: Timestamps, seed: int = 0
                    ) -> dict[str, Any]:
    """An alert event's head for a flow still open (an attempt's or an update's
    record): timestamp stamp_us, flow_id, endpoints (ports only for protocols that
    have them), proto, community_id (hashed with seed, outputs.eve.community_id_seed),
    event_type."""
    version, proto = int(record["ip_version"]), int(record["proto"])
    alen = 4 if version == 4 else 16
    src, dst = bytes(record["src_addr"][:alen]), bytes(record["dest_addr"][:alen])
    # ports only for protocols that have them (ICMP's type is no port here)
    sport, dport = ((int(record["src_port"]), int(record["dest_port"]))
                    if proto in PORT_PROTOS else (None, None))
    # ICMP: the flow line hashes the first packet's type and code as its ports; an
    # update's record has them as the flow's, an attempt's as the request's
    cid_ports = (sport, dport)
    is_icmp = (proto == 1 and version == 4) or (proto == 58 and version == 6)
    names = record.dtype.names
    if is_icmp and "icmp_seen" in names and int(record["icmp_seen"]) & 1:
        cid_ports = (int(record["icmp_type_ts"]), int(record["icmp_code_ts"]))
    elif is_icmp and "icmp_code" in names:
        cid_ports = (int(record["icmp_type"]), int(record["icmp_code"]))
    ev: dict[str, Any] = {
        "timestamp": ts(stamp_us), "flow_id": int(record["flow_id"]),
        "src_ip": ip_text(src, version), "src_port": sport,
        "dest_ip": ip_text(dst, version), "dest_port": dport, "proto": proto_name(proto),
        "community_id": community_id(proto, src, dst, *cid_ports, seed),
        "event_type": "alert"}
    if sport is None:
        del ev["src_port"], ev["dest_port"]
    return ev


def _crossed(alert, record, ts: Timestamps) -> str:
    """'quantity=value > reference since TIME' of the explanation's first quantity
    (the one that made the score), TIME its scan key's first confirmed failure; the
    extreme model's doublings d give the reference r = (1 + value) / 2**d - 1; other
    models: the score over the threshold, since the attempt."""
    from wirescore.catalog import ATTEMPT_SINCE

    if alert.explanation and alert.profile.model["name"] == "extreme":
        name = alert.explanation[0][0]
        return _crossed_since(alert, int(record[ATTEMPT_SINCE[name]]), ts)
    return _crossed_since(alert, int(record["attempt_us"]), ts)


def _crossed_since(alert, since_us: int, ts: Timestamps) -> str:
    """'quantity=value > reference since TIME' of the explanation's first quantity
    (extreme models: the reference r = (1 + value) / 2**d - 1 of its doublings d), else
    'score=S > threshold since TIME'."""
    if alert.explanation and alert.profile.model["name"] == "extreme":
        name, value, d = alert.explanation[0]
        ref = (1.0 + value) / 2.0 ** d - 1.0
        return f"{name}={value:.6g} > {ref:.6g} since {ts(since_us)}"
    return f"score={alert.score:.6g} > {alert.threshold:.6g} since {ts(since_us)}"


def _alert_object(alert, unit: str, extra: dict) -> dict[str, Any]:
    """alert{...} of an EVE alert: the profile's identity, the anomaly facts (score,
    threshold, model, unit, then `extra`) under metadata as string arrays (the rules'
    metadata convention, which pipelines index as keywords), and the score and its
    threshold again as numbers under context.wirescore (_numbers)."""
    p = alert.profile
    metadata = {
        "wirescore_score": [f"{alert.score:.6f}"],
        "wirescore_threshold": [f"{alert.threshold:.6f}"],
        "wirescore_model": [p.model["name"]],
        "wirescore_unit": [unit],
        **extra,
    }
    return {"action": "allowed", "gid": 1, "signature_id": p.id, "rev": p.rev,
            "signature": p.name, "category": p.category, "severity": alert.severity,
            "metadata": metadata, "context": {"wirescore": _numbers(alert)}}


def _numbers(alert) -> dict[str, float]:
    """alert.context.wirescore: the score and the threshold it crossed as JSON numbers,
    for range queries and sorting without parsing metadata's strings (same values, full
    precision; both in the profile's score units: a model's score, or the extreme
    model's doublings). alert.context is where Suricata puts an alert's JSON objects (its
    schema: any object). A value that is not finite is left out: JSON has no NaN.
    A profile with an explainer adds its SHAP / LIME explanation (wirescore.explain)."""
    out: dict = {}
    for key, value in (("score", alert.score), ("threshold", alert.threshold)):
        value = float(value)
        if math.isfinite(value):
            out[key] = value
    attribution = getattr(alert, "attribution", None)
    if attribution is not None:
        out["explanation"] = attribution
    return out
