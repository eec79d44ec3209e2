"""Every setting once: its YAML key, default, command-line flag, unit and help.

Precedence: built-in default < YAML file (-c FILE, in the spirit of suricata.yaml)
< command-line flag. `wirescore config` prints the effective configuration.

The YAML file is a nested mapping whose dotted paths are the keys below, e.g.

    flow:
      max_flows: 200000
      timeouts:
        tcp: {new: 30, established: 300}

Unknown keys and wrong types are errors naming the file and the key.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from wirescore.core_names import (APP_BUDGETS, APP_HOLD, APP_PROBE, TIMEOUT_CLASSES,
                                  TIMEOUT_DEFAULTS)
from wirescore.errors import WirescoreError


@dataclass(frozen=True)
class Setting:
    """One setting: `key` is its dotted YAML path; `flag` its long option."""

    key: str
    default: Any
    type: type
    flag: str
    help: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    power_of_two: bool = False        # int settings that size a hashed table

    @property
    def dest(self) -> str:
        """The Python identifier click gives the flag's value."""
        return self.key.replace(".", "_")


def _timeouts() -> list[Setting]:
    """One setting per idle-timeout class of the core, in its order, with its default
    (Suricata's flow-timeouts; ext/includes/enums.h)."""
    what = {
        "new": "packets seen in one direction only",
        "established": "packets seen in both directions",
        "closed": "after FIN both ways or RST: the linger in which final ACKs and "
                  "retransmissions still join the flow",
    }
    settings = []
    for name, value in zip(TIMEOUT_CLASSES, TIMEOUT_DEFAULTS):
        proto, state = name.split(".")
        settings.append(Setting(
            f"flow.timeouts.{name}", float(value), float, f"--flow-timeout-{proto}-{state}",
            f"Idle timeout of {proto} flows in state {state} ({what[state]}).",
            unit="s", minimum=0.000001))
    return settings


def _app_budgets() -> list[Setting]:
    """One budget setting per application-layer parser (core_names.py APP_PARSERS), by
    Suricata's stats name for it."""
    return [Setting(f"app.budget.{stem}", value, int, f"--app-budget-{stem.replace('_', '-')}",
                    f"Bytes of each direction of a flow the {stem.replace('_', '/').upper()} "
                    "parser examines at most (bytes it is told to skip are free); past "
                    "them the direction is not parsed (counted: "
                    "wirescore.app_budget_exhausted); 0: the protocol is named, not "
                    "parsed.", unit="bytes", minimum=0,
                    maximum=(1 << 32) - 1)
            for stem, value in APP_BUDGETS.items()]


SETTINGS: tuple[Setting, ...] = (
    Setting("capture.bpf", None, str, "--bpf",
            "BPF filter applied by libpcap before decoding (pcap-filter(7) syntax), "
            "e.g. 'tcp or udp', 'not port 53'. Default: every packet."),
    Setting("capture.batch_size", 16384, int, "--batch-size",
            "Packets handed to the core and detection at once, at most: a live "
            "interface or a pipe hands over what it has after --read-timeout, so a "
            "full batch comes only from a backlog or a file. Each batch pays a fixed "
            "cost per profile (on the 2M-packet benchmark capture 16384 runs the "
            "shipped profiles ~25 % faster than 4096, for ~100 MiB more memory); "
            "what alerts does not depend on it: profiles score in chunks of their "
            "own stream, and an attempt, an update of an open flow or an early "
            "window is decided between the records the core wrote before and after "
            "it, whichever batch they come in.",
            unit="packets", minimum=1, maximum=1_000_000),
    Setting("capture.snaplen", 65535, int, "--snaplen",
            "Live capture (-i, and the remote tcpdump of -r ssh://): bytes kept of each "
            "packet. 65535 keeps whole frames; less saves ring space but cuts payloads "
            "(wire lengths stay right: they come from the IP header).", unit="bytes",
            minimum=64, maximum=262144),
    Setting("capture.promisc", True, bool, "--promisc/--no-promisc",
            "Live capture (-i): promiscuous mode, to see traffic not addressed to this host "
            "(a tap or a mirror port needs it)."),
    Setting("capture.buffer_mb", 64, int, "--buffer-size",
            "Live capture (-i, and the remote tcpdump of -r ssh://): kernel ring buffer of "
            "each capture handle: what absorbs bursts while the engine is busy. Raise it when stats show capture.kernel_drops.",
            unit="MiB", minimum=1, maximum=65536),
    Setting("capture.timeout_ms", 100, int, "--read-timeout",
            "Live capture (-i) and pipes (-r -): the most a packet waits before it is "
            "handed over on a quiet link (a quiet pipe then also ages flows on the wall "
            "clock), and how soon a stop is noticed.", unit="ms", minimum=1,
            maximum=10000),
    Setting("capture.exit_on_link_loss", False, bool,
            "--exit-on-link-loss/--resume-on-link-loss",
            "Live capture (-i): end the run when the interface goes down, disappears or is "
            "re-created. Default: log it, write an EVE engine event, keep flows and host "
            "state, and resume on the interface when it is back (same BPF, same fanout "
            "group; retried every second; counted in stats capture.errors)."),
    Setting("capture.reconnect", False, bool, "--reconnect/--no-reconnect",
            "Remote capture (-r ssh://..., --syscalls ssh://...): when the connection "
            "drops or the remote tcpdump (bpftrace) ends, keep flows and host state and open a new ssh session with the "
            "same command (retried after 1 s, then twice as long each time up to 30 s); "
            "the gap is counted (capture.errors, wirescore.capture.link_down_ms). Default: "
            "a dropped connection ends the run (exit status 1)."),
    Setting("capture.ssh_config", None, str, "--ssh-config",
            "Remote capture (-r ssh://..., --syscalls ssh://...): ssh client configuration file given to ssh -F "
            "instead of ~/.ssh/config (identities, known_hosts, jump hosts)."),
    Setting("capture.ssh_options", (), list, "--ssh-option",
            "Remote capture (-r ssh://..., --syscalls ssh://...): an ssh -o option KEY=VALUE, e.g. "
            "'IdentityFile=~/.ssh/sensor' or 'UserKnownHostsFile=/etc/wirescore/known_hosts'; "
            "repeat the flag (YAML: a list). ssh always runs with BatchMode=yes: it never "
            "asks for a password or a host key confirmation."),
    Setting("capture.remote_tcpdump", "tcpdump", str, "--remote-tcpdump",
            "Remote capture (-r ssh://...): the command that runs tcpdump on the remote "
            "host, e.g. '/usr/sbin/tcpdump' or 'sudo -n tcpdump' for a user that may "
            "capture through sudo (tcpdump 4.7 or later: --immediate-mode)."),
    Setting("capture.workers", 1, int, "--workers",
            "Live capture (-i): worker processes sharing the interface through the kernel's "
            "PACKET_FANOUT (flow hash: both directions of a flow reach one worker), each "
            "with its own flow table and detection. One eve.json unless --eve-per-worker.",
            unit="processes", minimum=1, maximum=64),
    Setting("capture.worker_restarts", 5, int, "--worker-restarts",
            "Live capture with --workers: a worker that dies (killed, crashed, failed) is "
            "restarted, at most this many times in any minute; its flows in progress are "
            "lost (counted), the summed counters go on. 0: a dead worker stops the run.",
            unit="per minute", minimum=0, maximum=1000),
    Setting("capture.fanout_group", None, int, "--fanout-group",
            "Live capture with --workers: PACKET_FANOUT group id (0..65535). Default: "
            "derived from the process id. Two wirescore runs on one interface need two "
            "ids.", minimum=0, maximum=65535),
    Setting("syscalls.bpftrace", "bpftrace", str, "--syscalls-bpftrace",
            "--syscalls: the command that runs bpftrace here (0.17 or later; root, or "
            "CAP_BPF and CAP_PERFMON, and tracefs mounted)."),
    Setting("syscalls.remote_bpftrace", "bpftrace", str, "--syscalls-remote-bpftrace",
            "--syscalls ssh://...: the command that runs bpftrace on the remote host, "
            "e.g. 'sudo -n bpftrace' (it gets -B line -e SCRIPT); ssh options, "
            "--ssh-config and --reconnect as for -r ssh://."),
    Setting("syscalls.learn_seconds", 60.0, float, "--syscalls-learn",
            "--syscalls: seconds of the trace (from its first event) in which who "
            "executed what is learned, never new (the proc.new_* columns): on a running "
            "host every (parent, program) pair would otherwise be new at first.",
            unit="s", minimum=0.0),
    Setting("syscalls.max_names", 1 << 16, int, "--syscalls-max-names",
            "--syscalls: entries of each novelty table ((parent, program) pairs, "
            "server comms, comms that executed a shell); when full the oldest is "
            "forgotten and counted (wirescore.syscalls.names_replaced).",
            unit="entries", minimum=16, maximum=1 << 24),
    Setting("flow.max_flows", 1 << 20, int, "--max-flows",
            "Live flows kept at most (about 344 bytes each, used lazily). When full, "
            "the least recently seen flow is evicted with reason 'forced' and counted "
            "in stats flow.wrk.flows_evicted.", unit="flows", minimum=1, maximum=1 << 30),
    Setting("flow.active_timeout", 1800.0, float, "--active-timeout",
            "A flow older than this ends at its next packet, which starts a new flow.",
            unit="s", minimum=0.000001),
    Setting("flow.tcp_close", True, bool, "--tcp-close/--no-tcp-close",
            "End TCP flows on FIN in both directions or RST (after the closed "
            "linger); with --no-tcp-close they end on idle timeout only (NFStream's "
            "behaviour)."),
    Setting("flow.splt_packets", 0, int, "--splt-packets",
            "Keep each flow's first N packets (direction, wire length, gap) in its record "
            "(the splt_* fields; the splt feature set's columns, NFStream's SPLT), up to "
            "32. 0: only as many as a feature set in use reads (splt: 20).",
            unit="packets", minimum=0, maximum=32),
    Setting("flow.packet_stats", False, bool, "--packet-stats/--no-packet-stats",
            "Keep per-packet statistics of each flow in its record (the pkt_* fields: L4 "
            "payload and header lengths, merged gaps, activity periods; 176 bytes a "
            "flow-table entry and a few operations a packet). Off: only when a feature "
            "set in use reads them (cicflowmeter)."),
    Setting("flow.activity_timeout", 5.0, float, "--activity-timeout",
            "With per-packet statistics (kept when a feature set reads them: "
            "cicflowmeter), a gap between two packets of a flow longer than this ends an "
            "activity period and is an idle period (CICFlowMeter's activity timeout).",
            unit="s", minimum=0.000001),
    Setting("flow.context", True, bool, "--context/--no-context",
            "Keep endpoint context (flows opened, new destinations and services, failure "
            "ratios per host, decayed over 60 s and 600 s, and what each host did around "
            "each flow; about 32 MB) and give every flow its ctx.* feature columns, "
            "whenever something reads them: a profile with a ctx.* feature, --export, or "
            "an on_flow callback of the Python API. "
            "--no-context leaves them 0 always."),
    Setting("flow.context_hosts", 1 << 16, int, "--context-hosts",
            "Hosts the endpoint context keeps at most (a power of two; about 510 bytes "
            "each, 33 MB by default). A host is pushed out while still active only when "
            "the table is (nearly) full of active hosts, and that is counted "
            "(wirescore.ctx_host_replaced, and _pair_, _port_, _hist_, _scan_replaced: "
            "logged at the end of a run, in the Python API's Summary.counters): a larger "
            "table would have kept it.",
            unit="hosts", minimum=16, maximum=1 << 24, power_of_two=True),
    Setting("flow.arp_hosts", 1 << 14, int, "--arp-hosts",
            "ARP in the host context, kept when an ARP profile runs (rules with unit: "
            "arp): rows of its sender table and of its IPv4 -> MAC binding table (a "
            "power of two; 96 bytes a row, 1.5 MB by default). A sender or a fresh "
            "binding is pushed out only when its table is (nearly) full of live ones, "
            "counted (wirescore.arp_senders_replaced, wirescore.arp_bindings_replaced).",
            unit="hosts", minimum=16, maximum=1 << 24, power_of_two=True),
    Setting("flow.window_max_keys", 1 << 14, int, "--window-max-keys",
            "Traffic windows: addresses tracked per key kind (src, dst) and window (a "
            "power of two; about 550 bytes each per kind). Packets of further addresses "
            "are not summed and are counted (wirescore.window_keys_dropped: logged at "
            "the end of a run, in the Python API's Summary.counters).",
            unit="keys", minimum=16, maximum=1 << 24, power_of_two=True),
    Setting("flow.scan_grace", 0.5, float, "--scan-grace",
            "Packet time after a connection attempt at which, still unanswered, it is a "
            "confirmed failure (scan profiles with evidence: attempt alert at it). A "
            "SYN/ACK comes within one round trip, well under 0.5 s on any terrestrial "
            "path, and TCP retransmits a first SYN after 1 s (RFC 6298): an attempt "
            "unanswered after 0.5 s has failed its first try. An answer that comes later "
            "still takes it back out of the counts.", unit="s", minimum=0.000001),
    Setting("flow.scan_pending", 1 << 16, int, "--scan-pending",
            "Connection attempts awaiting their grace at once (56 bytes each, only when "
            "a profile asks for attempt evidence). When full, the oldest is confirmed "
            "before its grace (wirescore.scan_pending_early), or dropped when the record "
            "buffer is full too (wirescore.scan_pending_dropped).",
            unit="attempts", minimum=16, maximum=1 << 26),
    Setting("flow.update_interval", 5.0, float, "--update-interval",
            "Packet time between updates of an open flow (only when a profile asks for "
            "evidence: update): a flow is scored at its first and 4th packets, when "
            "its TCP handshake completes, then at its first packet in each further interval "
            "since its start, so a long flow is alerted while it lasts, not when it "
            "ends. Updates the core cannot buffer are skipped and counted "
            "(wirescore.flow_updates_skipped).", unit="s", minimum=0.001),
    Setting("flow.quiet_after", 10.0, float, "--quiet-after",
            "A flow with no packet for this long is quiet: with updates (above) it is "
            "scored once more, as it stands, instead of waiting for its idle timeout (30 "
            "to 600 s) to be judged, and again after each later burst followed by as "
            "long a silence. The default, 10 s, is how far after a flow its "
            "ctx.*_around counts reach, so that update reads the counts its end would. "
            "Quiet flows also keep the idle timeouts exact: a flow ends at most this + "
            "1 s after its timeout (0: off; a flow may then end up to a timeout late).",
            unit="s", minimum=0.0),
    *_timeouts(),
    Setting("app.enabled", True, bool, "--app/--no-app",
            "Parse the application layer (README: Application layer): protocol by "
            "content, EVE app_proto on flows, app-layer events (dns), the app.* feature "
            "columns. --no-app leaves them out."),
    Setting("app.max_flows", 1 << 18, int, "--app-max-flows",
            "Flows whose protocol is known (or being probed) that keep an app summary at "
            "once (72 bytes each, used lazily). When full, the summary of the flow "
            "seen longest ago is taken back: its app.* columns read 0 (counted: "
            "wirescore.app_flows_reclaimed).", unit="flows", minimum=1, maximum=1 << 30),
    Setting("app.streams", 4096, int, "--app-streams",
            "TCP flows parsed at once (a stream slot each: about "
            f"{2 * APP_HOLD // 1024 + 2} KiB, used lazily; a slot is given back when both "
            "directions are done). When full, the slot of the flow seen longest ago is "
            "taken back and its parse ends (counted: wirescore.app_streams_reclaimed).",
            unit="flows", minimum=1, maximum=1 << 24),
    *_app_budgets(),
    Setting("app.first_bytes", 512, int, "--app-first-bytes",
            "First payload bytes of each direction no protocol claims whose entropy, "
            "printable share and file magic are the app.first_* columns (UDP: the first "
            "datagram; TCP: the first segment, or the bytes joined while the probes looked, "
            f"at most {APP_PROBE}). 0: off.", unit="bytes", minimum=0, maximum=65535),
    Setting("outputs.eve.types", "all", str, "--eve-types",
            "EVE event types written to eve.json: 'all', or a comma-separated list of "
            "alert, flow, stats, dns (as Suricata's eve-log types; API callbacks get "
            "every type whatever this says)."),
    Setting("outputs.eve.decode_anomalies", False, bool,
            "--eve-decode-anomalies/--no-eve-decode-anomalies",
            "Write each frame the decoder refuses as an EVE anomaly event (Suricata's "
            "type decode, with its event names, e.g. decoder.ipv4.trunc_pkt, and the "
            "frame's addresses when its IP header was read). Off by default, as in "
            "Suricata's suricata.yaml: a damaged or hostile link can make one a packet; "
            "the counts are always in the stats events (decoder.event.*)."),
    Setting("outputs.eve.filetype", "regular", str, "--eve-filetype",
            "Where EVE lines go, as Suricata's eve-log filetype: regular (a file), "
            "unix_stream or unix_dgram (a unix socket another program listens on, e.g. "
            "an event router), redis (a Redis list, channel or stream), syslog, or stdout. "
            "Sockets, Redis and syslog are written through a bounded buffer that never "
            "blocks capture: a peer that goes away is reconnected every second, and lines "
            "the buffer cannot hold are dropped and counted."),
    Setting("outputs.eve.filename", "eve.json", str, "--eve-filename",
            "regular: the EVE-JSON file, a name inside the log directory (appended to, "
            "as Suricata does; files wirescore writes never leave -l); "
            "unix_stream/unix_dgram: the socket's path, absolute or a name inside the "
            "log directory."),
    Setting("outputs.eve.redis.server", "127.0.0.1", str, "--eve-redis-server",
            "filetype redis: the server's host name or address."),
    Setting("outputs.eve.redis.port", 6379, int, "--eve-redis-port",
            "filetype redis: the server's port.", minimum=1, maximum=65535),
    Setting("outputs.eve.redis.mode", "list", str, "--eve-redis-mode",
            "filetype redis, as Suricata's: list or lpush (LPUSH onto the key), rpush, "
            "channel or publish (PUBLISH to the key as a channel), stream (XADD key "
            "MAXLEN ~ 100000 * eve LINE). Needs the redis package: pip install "
            "'wirescore[redis]'."),
    Setting("outputs.eve.redis.key", "suricata", str, "--eve-redis-key",
            "filetype redis: the list, channel or stream name (Suricata's default)."),
    Setting("outputs.eve.syslog.address", "/dev/log", str, "--eve-syslog-address",
            "filetype syslog: the local syslog socket, or HOST:PORT of a syslog server "
            "(UDP). Each line is one message with an RFC 3164 header, as syslog(3) "
            "writes."),
    Setting("outputs.eve.syslog.facility", "local5", str, "--eve-syslog-facility",
            "filetype syslog: the facility (kern, user, daemon, auth, local0..local7, ...; "
            "Suricata's default)."),
    Setting("outputs.eve.syslog.level", "info", str, "--eve-syslog-level",
            "filetype syslog: the severity of every message (emerg .. debug)."),
    Setting("outputs.eve.syslog.identity", "wirescore", str, "--eve-syslog-identity",
            "filetype syslog: the program name in each message (set 'suricata' for a "
            "consumer that filters on Suricata's)."),
    Setting("outputs.eve.buffer_mb", 64, int, "--eve-buffer",
            "Sockets, Redis and syslog: EVE lines kept while the peer is away or slow; "
            "beyond this the newest are dropped and counted "
            "(wirescore.output.<label>.dropped, logged at the end of the run).",
            unit="MiB", minimum=1, maximum=1 << 16),
    Setting("outputs.eve.rotate_interval", 0.0, float, "--eve-rotate-interval",
            "Regular files: start a new file every this many seconds of packet time "
            "(aligned: 3600 turns at each full hour; Suricata's rotate-interval). With "
            "strftime fields in the file name (eve-%Y%m%d-%H%M.json) each file is named "
            "for its interval; without, the old one becomes eve.json.1, .2, ... "
            "0: never.", unit="s", minimum=0, maximum=1e9),
    Setting("outputs.eve.rotate_bytes", 0, int, "--eve-rotate-size",
            "Regular files: when the file reaches this size it becomes eve.json.1 (the "
            "older ones .2, .3, ...) and a new one starts; lines stay whole (a file may "
            "pass the size by one batch). 0: never.", unit="bytes", minimum=0),
    Setting("outputs.eve.rotate_keep", 20, int, "--eve-rotate-keep",
            "Numbered rotated files kept (eve.json.1 .. eve.json.N); the oldest beyond "
            "are deleted.", unit="files", minimum=1, maximum=100000),
    Setting("outputs.eve.also", (), list, "--eve-also",
            "More EVE outputs beside the main one, each with its own event types; "
            "repeat the flag (YAML: a list). Each is FILETYPE[:WHERE][?KEY=VALUE&...], "
            "e.g. 'redis:127.0.0.1:6379?mode=rpush&key=alerts&types=alert', "
            "'unix_stream:/run/router.sock', 'regular:alerts.json?types=alert', "
            "'syslog?facility=local5&types=alert', 'stdout?types=alert'. KEYs: types, "
            "buffer_mb, mode and key (redis), facility, level and identity (syslog), "
            "rotate_interval, rotate_bytes and rotate_keep (regular)."),
    Setting("outputs.eve.community_id_seed", 0, int, "--community-id-seed",
            "Seed of every Community ID written (flow, alert and app-layer lines, the "
            "export), as Suricata's community-id-seed: sensors that hash with the same "
            "seed give the same flow the same ID; a different seed keeps IDs from being "
            "matched across sites. The Community ID spec's default is 0.",
            minimum=0, maximum=65535),
    Setting("outputs.eve.sensor_name", None, str, "--sensor-name",
            "Name of this sensor, written as \"host\" in every EVE line (alert, flow, "
            "app-layer, stats), as Suricata's sensor-name: tells apart the lines of several "
            "sensors feeding one pipeline. Unset: no host field, as in Suricata."),
    Setting("outputs.eve.ethernet", False, bool, "--eve-ethernet/--no-eve-ethernet",
            "Ethernet captures: flow lines carry ether{src_macs, dest_macs} and alerts "
            "about a flow ether{src_mac, dest_mac}: the MACs of the flow's first frame "
            "(source: the client's side), as Suricata's eve-log ethernet: yes."),
    Setting("outputs.eve.pcap_filename", False, bool, "--pcap-filename/--no-pcap-filename",
            "Reading a capture file (-r FILE): write its path, as given, as "
            "\"pcap_filename\" in every EVE line, as Suricata's eve-log option pcap-file: "
            "yes (standard input and live capture have no file name: no field)."),
    Setting("outputs.eve.per_worker", False, bool, "--eve-per-worker/--eve-merged",
            "With --workers N: each worker writes its own eve.<n>.json (Suricata's threaded "
            "EVE output; regular files only) instead of one merged stream the parent "
            "writes to every EVE output (eve.json or another filetype, and --eve-also)."),
    Setting("outputs.cef.enabled", False, bool, "--cef/--no-cef",
            "Also write every alert as one CEF line (ArcSight Common Event Format) to "
            "LOGDIR/<outputs.cef.filename>, for a SIEM that reads CEF rather than EVE "
            "(ArcSight, QRadar, a syslog forwarder tailing the file). Fields as in "
            "README's 'Alert logs for SIEMs' (community_id in cs1, score in cfp1)."),
    Setting("outputs.cef.filename", "alerts.cef", str, "--cef-filename",
            "Name of the CEF alert log inside the log directory (appended to; with "
            "--workers N one <name>.<n>.cef per worker)."),
    Setting("outputs.notice.enabled", False, bool, "--notice-log/--no-notice-log",
            "Also write every alert as a Zeek-style notice (JSON, Zeek's notice.log "
            "field names: ts, uid, id.orig_h, ..., note, msg, sub, community_id) to "
            "LOGDIR/<outputs.notice.filename>, for a Zeek shop: load it beside "
            "notice.log and join it to conn.log on community_id."),
    Setting("outputs.notice.filename", "notice.json", str, "--notice-filename",
            "Name of the notice log inside the log directory (appended to; with "
            "--workers N one <name>.<n>.json per worker)."),
    Setting("outputs.stats.interval", 60.0, float, "--stats-interval",
            "Seconds of packet time between two stats events; 0 writes stats only at "
            "the end. Packet time keeps replays deterministic.", unit="s", minimum=0,
            maximum=1e9),
    Setting("outputs.snippets.enabled", True, bool, "--snippets/--no-snippets",
            "With detection on, keep recent packets in a ring and write the packets behind "
            "each alert to LOGDIR/pcaps/ (named in the alert's capture_file)."),
    Setting("outputs.snippets.ring_bytes", 64 << 20, int, "--ring-bytes",
            "Bytes of recent packets kept for snippets (plus a 32-byte index entry per 64 "
            "bytes). On a busy link the ring covers less time: a flow alerted after its "
            "packets left the ring gets a snippet with what is left.", unit="bytes",
            minimum=65536),
    Setting("outputs.snippets.max_files", 1000, int, "--snippet-max-files",
            "Snippet files kept in LOGDIR/pcaps/ at most; the oldest go first.",
            unit="files", minimum=1),
    Setting("outputs.snippets.max_bytes", 1 << 30, int, "--snippet-max-bytes",
            "Bytes of snippet files kept at most; the oldest go first.", unit="bytes",
            minimum=1),
    Setting("outputs.export", None, str, "--export",
            "Also write one row per finished flow (identity columns, then every "
            "feature column) to this file: .csv, or .parquet (needs pyarrow)."),
    Setting("outputs.export_feature_set", None, str, "--feature-set",
            "With --export: write a named feature set's columns (`wirescore features "
            "--set` lists them, e.g. unsw-nb15) instead of the catalogue's."),
    Setting("detect.rules", None, str, "--rules",
            "Detection profiles: YAML files or folders, comma-separated. Default: the "
            "profiles shipped in wirescore's rules/ (see rules/README.md)."),
    Setting("detect.enabled", True, bool, "--detect/--no-detect",
            "Run detection profiles on flows; --no-detect runs the flow core alone "
            "(flows and stats only)."),
    Setting("detect.firstseen_rows", 1 << 16, int, "--firstseen-rows",
            "Rows of each of the two first-seen tables of the app profiles (unit: app; "
            "a power of two; 36 bytes each, 4.5 MB by default, only when an app profile "
            "runs): who used what on which server, and how many clients each key and "
            "server had. A full table replaces the least recently touched row and "
            "counts it (wirescore.firstseen_seen_replaced, _tally_replaced: logged at "
            "the end of a run, in the Python API's Summary.counters): a pair it forgot "
            "may look new again.",
            unit="rows", minimum=64, maximum=1 << 26, power_of_two=True),
    Setting("run.user", None, str, "--user",
            "Once the capture is open, drop to this user (name or uid) for the rest of the "
            "run; wirescore refuses to go on if the switch fails. The log directory must "
            "be writable by that user (it is made so when wirescore creates it)."),
    Setting("run.group", None, str, "--group",
            "Group to drop to (name or gid). Default with --user: that user's primary "
            "group; --group alone keeps the current user."),
    Setting("run.pidfile", None, str, "--pidfile",
            "Write the process id to this file at start (created 0644) and remove it at "
            "the end, as a service manager expects; refused in one line while another "
            "running wirescore holds it (a lock), a stale one is replaced."),
    Setting("window.early_packets", 16, int, "--window-early",
            "Early window records (only when a window profile asks for evidence: "
            "early): while a window is open, a key is scored when its packets in it "
            "reach this many, then twice, four, eight times as many (at most log2 "
            "records per key and window), so a burst is alerted at the packet that "
            "makes it anomalous, not when a later packet closes its window. Records the "
            "core cannot buffer are skipped and counted (wirescore.window_early_skipped).",
            unit="packets", minimum=1, maximum=1 << 24),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def _flatten(node: Any, prefix: str, out: dict[str, Any], source: str) -> None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if not isinstance(k, str):
                raise WirescoreError(f"{source}: key {k!r} under '{prefix or '<top>'}' "
                                     "is not a string")
            _flatten(v, f"{prefix}.{k}" if prefix else k, out, source)
    else:
        out[prefix] = node


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    """Check and convert one value; errors name where the value came from."""
    if value is None and setting.default is None:
        return None
    want = setting.type
    try:
        if want is bool:
            if not isinstance(value, bool):
                raise TypeError
            result: Any = value
        elif want is int:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise TypeError
            result = int(value)
        elif want is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError
            result = float(value)
            if result != result:
                raise ValueError
        elif want is list:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str)
                                                               for v in value):
                raise TypeError
            return tuple(value)
        else:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError
            result = str(value)
    except (TypeError, ValueError):
        raise WirescoreError(f"{source}: {setting.key} must be {want.__name__}, "
                             f"got {value!r}") from None
    if setting.maximum is not None and result is not None and result > setting.maximum:
        raise WirescoreError(f"{source}: {setting.key} must be <= {setting.maximum:g}, "
                             f"got {result!r}")
    if setting.minimum is not None and result is not None and result < setting.minimum:
        raise WirescoreError(f"{source}: {setting.key} must be >= {setting.minimum:g}, "
                             f"got {result!r}")
    if setting.power_of_two and result is not None and result & (result - 1):
        raise WirescoreError(f"{source}: {setting.key} must be a power of two, "
                             f"got {result!r}")
    return result


class Config:
    """The effective configuration: a read-only mapping of dotted key -> value."""

    def __init__(self, values: Mapping[str, Any] | None = None,
                 origins: Mapping[str, str] | None = None):
        self._values = {s.key: s.default for s in SETTINGS}
        self._origins = {s.key: "default" for s in SETTINGS}
        for key, value in (values or {}).items():
            setting = self._setting(key, "config")
            self._values[key] = _coerce(setting, value, (origins or {}).get(key, "config"))
            self._origins[key] = (origins or {}).get(key, "api")

    @staticmethod
    def _setting(key: str, source: str) -> Setting:
        try:
            return BY_KEY[key]
        except KeyError:
            close = difflib.get_close_matches(key, BY_KEY, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise WirescoreError(f"{source}: unknown setting '{key}'{hint}") from None

    @classmethod
    def load(cls, path: str | Path | None = None,
             overrides: Mapping[str, Any] | None = None) -> "Config":
        """Defaults, then the YAML file at path (if any), then overrides (flags)."""
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        if path is not None:
            import yaml  # lazy: start-up time

            try:
                text = Path(path).read_text()
            except OSError as exc:
                raise WirescoreError(f"{path}: cannot read config: {exc.strerror}") from None
            refuse_aliases(text, str(path))
            try:
                _, doc = load_yaml(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" line {mark.line + 1}" if mark is not None else ""
                raise WirescoreError(f"{path}:{where} invalid YAML: "
                                     f"{getattr(exc, 'problem', exc)}") from None
            if doc is None:
                doc = {}
            if not isinstance(doc, Mapping):
                raise WirescoreError(f"{path}: the top level must be a mapping of settings")
            flat: dict[str, Any] = {}
            _flatten(doc, "", flat, str(path))
            for key, value in flat.items():
                cls._setting(key, str(path))
                values[key] = value
                origins[key] = str(path)
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            values[key] = value
            origins[key] = "flag"
        return cls(values, origins)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def origin(self, key: str) -> str:
        return self._origins[key]

    def items(self) -> Iterable[tuple[str, Any]]:
        return self._values.items()

    def app_budgets(self) -> dict[str, int]:
        """Each app-layer parser's budget (bytes per direction), by its stats stem."""
        return {stem: self[f"app.budget.{stem}"] for stem in APP_BUDGETS}

    def timeouts(self) -> tuple[float, ...]:
        """Idle timeouts (s) in the core's class order (FlowMeter(timeouts=...))."""
        return tuple(self[f"flow.timeouts.{name}"] for name in TIMEOUT_CLASSES)

    def to_yaml(self, with_help: bool = True) -> str:
        """The effective configuration as YAML, each key with its help and origin."""
        lines: list[str] = []
        emitted: list[str] = []
        for setting in SETTINGS:
            parts = setting.key.split(".")
            for depth, part in enumerate(parts[:-1]):
                path = ".".join(parts[: depth + 1])
                if path not in emitted:
                    lines.append("  " * depth + f"{part}:")
                    emitted.append(path)
            indent = "  " * (len(parts) - 1)
            if with_help:
                unit = f" [{setting.unit}]" if setting.unit else ""
                lines.append(f"{indent}# {setting.help}{unit} (flag {setting.flag.split('/')[0]};"
                             f" from {self.origin(setting.key)})")
            lines.append(f"{indent}{parts[-1]}: {_yaml_scalar(self[setting.key])}")
        return "\n".join(lines) + "\n"


def _yaml_scalar(value: Any) -> str:
    import json

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value)


def safe_loader():
    """PyYAML's safe loader, libyaml's C one when PyYAML was built with it (the same
    documents, marks and errors; ~10x faster, which start-up with the shipped rules
    notices), else the pure-Python one."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    """(node, document) of one YAML text in one pass: the node tree keeps line numbers
    for error messages, the document is what yaml.safe_load would give. Raises
    yaml.YAMLError."""
    loader = safe_loader()(text)
    try:
        node = loader.get_single_node()
        doc = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, doc


def refuse_aliases(text: str, source: str) -> None:
    """YAML aliases (*name) are refused in files wirescore reads: a recursive alias or a
    'billion laughs' expansion would hang or exhaust memory. Checked on the event
    stream, before anything is built."""
    import yaml

    try:
        for event in yaml.parse(text, Loader=safe_loader()):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1
                raise WirescoreError(f"{source}:{line}: YAML aliases (*{event.anchor}) are "
                                     "not allowed here; write the values out")
    except yaml.YAMLError:
        return          # reported with its line by the real load
