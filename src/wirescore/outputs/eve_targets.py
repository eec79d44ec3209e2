"""Where EVE lines go, as Suricata's eve-log output names it: filetype regular,
unix_stream, unix_dgram, redis, syslog or stdout.

The main output is configured by outputs.eve.* (filetype, filename, redis.*, syslog.*,
types); outputs.eve.also adds more, each one text:

    FILETYPE[:WHERE][?KEY=VALUE&...]

    regular:alerts.json?types=alert            a file (a name inside -l)
    unix_stream:/run/evebox.sock               a unix stream socket (Suricata's
                                               unix_stream: one connection, lines)
    unix_dgram:/run/eve.sock?types=alert,dns   a unix datagram socket: a line a datagram
    redis:10.0.0.5:6379?mode=rpush&key=eve     a Redis server (default 127.0.0.1:6379,
                                               mode list, key suricata)
    syslog?facility=local5&level=info&identity=suricata
                                               syslog (default address /dev/log; WHERE
                                               may be another unix socket path or
                                               HOST:PORT for UDP)
    stdout?types=alert                         standard output

KEYs: types (comma-separated event types, default all), buffer_mb, and per filetype
mode and key (redis), facility, level and identity (syslog), rotate_interval,
rotate_bytes and rotate_keep (regular: outputs/rotation.py). Files and standard output
are written as the main eve.json is (outputs/eve.py EveWriter: whole lines, blocking; on
a live run a file that cannot be written keeps up to buffer_mb of lines and is tried
again); the others through a bounded buffer that never blocks capture
(outputs/eve_sockets.py).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl

from wirescore.errors import WirescoreError
from wirescore.outputs.paths import check_path_name

FILETYPES = ("regular", "unix_stream", "unix_dgram", "redis", "syslog", "stdout")
REDIS_MODES = ("list", "lpush", "rpush", "channel", "publish", "stream")
#: syslog facility codes (RFC 5424 section 6.2.1) by the names syslog.conf uses
FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
              "lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
              **{f"local{i}": 16 + i for i in range(8)}}
#: syslog severities by name (Suricata's eve syslog `level` takes these, any case)
LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4,
          "warn": 4, "notice": 5, "info": 6, "debug": 7}
SPEC_KEYS = {"types", "buffer_mb", "mode", "key", "facility", "level", "identity",
             "rotate_interval", "rotate_bytes", "rotate_keep"}


@dataclass(frozen=True)
class EveOutput:
    """One EVE output: where its lines go and which event types it takes. where: a file
    name or path (regular), a socket path (unix_*), HOST[:PORT] (redis), an address
    (syslog: a unix socket path or HOST:PORT for UDP), unused for stdout."""

    label: str
    filetype: str
    where: str
    types: str = "all"
    buffer_mb: int = 64
    redis_mode: str = "list"
    redis_key: str = "suricata"
    facility: str = "local5"
    level: str = "info"
    identity: str = "wirescore"
    rotate_interval: float = 0.0
    rotate_bytes: int = 0
    rotate_keep: int = 20

    def describe(self, log_dir: Path | None = None) -> str:
        """How messages name this output: 'EVE file LOGDIR/eve.json', 'EVE unix_stream
        /run/x.sock'."""
        if self.filetype == "regular":
            return f"EVE file {Path(log_dir or '') / self.where}"
        return f"EVE {self.filetype} {self.where}".rstrip()


def main_output(cfg) -> EveOutput:
    """The output of outputs.eve.* (label 'eve')."""
    filetype = cfg["outputs.eve.filetype"]
    where = {"redis": f"{cfg['outputs.eve.redis.server']}:{cfg['outputs.eve.redis.port']}",
             "syslog": cfg["outputs.eve.syslog.address"], "stdout": ""}.get(
        filetype, cfg["outputs.eve.filename"])
    out = EveOutput("eve", filetype, where, cfg["outputs.eve.types"],
                    cfg["outputs.eve.buffer_mb"], cfg["outputs.eve.redis.mode"],
                    cfg["outputs.eve.redis.key"], cfg["outputs.eve.syslog.facility"],
                    cfg["outputs.eve.syslog.level"], cfg["outputs.eve.syslog.identity"],
                    cfg["outputs.eve.rotate_interval"], cfg["outputs.eve.rotate_bytes"],
                    cfg["outputs.eve.rotate_keep"])
    return _checked(out, "outputs.eve")


def also_outputs(cfg) -> list[EveOutput]:
    """The outputs of outputs.eve.also, labelled by filetype (a second of the same
    filetype gets _2, ...)."""
    out, seen = [], {}
    for text in cfg["outputs.eve.also"]:
        spec = parse_output(text, cfg)
        seen[spec.filetype] = seen.get(spec.filetype, 0) + 1
        n = seen[spec.filetype]
        out.append(replace(spec, label=spec.filetype + (f"_{n}" if n > 1 else "")))
    return out


def regular_files(cfg) -> tuple[str, ...]:
    """The file names of the regular outputs of outputs.eve.also (checked before a run
    like eve.json: outputs/paths.py run_outputs)."""
    return tuple(o.where for o in also_outputs(cfg) if o.filetype == "regular")


def parse_output(text: str, cfg) -> EveOutput:
    """One outputs.eve.also text (module docstring); defaults from the main output's
    settings. Errors name the text and what is wrong."""
    where_s = f"outputs.eve.also {text!r}"
    head, _, query = text.partition("?")
    filetype, _, where = head.partition(":")
    if filetype not in FILETYPES:
        raise WirescoreError(f"{where_s}: unknown filetype {filetype!r} "
                             f"(one of {', '.join(FILETYPES)})")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise WirescoreError(f"{where_s}: after '?' give KEY=VALUE pairs joined by &") \
            from None
    options = dict(pairs)
    unknown = sorted(set(options) - SPEC_KEYS)
    if unknown:
        raise WirescoreError(f"{where_s}: unknown key {unknown[0]!r} "
                             f"(one of {', '.join(sorted(SPEC_KEYS))})")
    base = main_output(cfg) if cfg["outputs.eve.filetype"] == filetype else None
    default_where = {"redis": "127.0.0.1:6379", "syslog": "/dev/log", "stdout": ""}
    if not where:
        where = default_where.get(filetype, "")
        if not where and filetype != "stdout":
            raise WirescoreError(f"{where_s}: {filetype} needs a path after "
                                 f"'{filetype}:'")
    numbers = {}
    for key, kind in (("buffer_mb", int), ("rotate_interval", float), ("rotate_bytes", int),
                      ("rotate_keep", int)):
        try:
            numbers[key] = kind(options.get(key, cfg[f"outputs.eve.{key}"]))
        except ValueError:
            raise WirescoreError(f"{where_s}: {key} must be a number") from None
    spec = EveOutput(
        "", filetype, where, options.get("types", "all"), numbers["buffer_mb"],
        options.get("mode", base.redis_mode if base else "list"),
        options.get("key", base.redis_key if base else "suricata"),
        options.get("facility", cfg["outputs.eve.syslog.facility"]),
        options.get("level", cfg["outputs.eve.syslog.level"]),
        options.get("identity", cfg["outputs.eve.syslog.identity"]),
        numbers["rotate_interval"], numbers["rotate_bytes"], numbers["rotate_keep"])
    return _checked(spec, where_s)


def _checked(out: EveOutput, where_s: str) -> EveOutput:
    """Refuse in one line what cannot work: an unknown mode, facility or level, a bad
    file or socket name, a bad HOST:PORT, a buffer under 1 MiB."""
    if out.filetype not in FILETYPES:
        raise WirescoreError(f"{where_s}: filetype {out.filetype!r} is not one of "
                             f"{', '.join(FILETYPES)}")
    if out.filetype == "redis" and out.redis_mode not in REDIS_MODES:
        raise WirescoreError(f"{where_s}: redis mode {out.redis_mode!r} is not one of "
                             f"{', '.join(REDIS_MODES)}")
    if out.filetype == "syslog":
        if out.facility.lower() not in FACILITIES:
            raise WirescoreError(f"{where_s}: syslog facility {out.facility!r} is not one "
                                 f"of {', '.join(FACILITIES)}")
        if out.level.lower() not in LEVELS:
            raise WirescoreError(f"{where_s}: syslog level {out.level!r} is not one of "
                                 f"{', '.join(LEVELS)}")
    if out.filetype in ("regular", "unix_stream", "unix_dgram"):
        check_path_name(out.where, f"{where_s} filename",
                        absolute=out.filetype != "regular")
    if out.filetype == "redis" or (out.filetype == "syslog" and not out.where.startswith("/")):
        host_port(out.where, where_s)
    if out.buffer_mb < 1:
        raise WirescoreError(f"{where_s}: buffer_mb must be >= 1, got {out.buffer_mb}")
    if out.rotate_interval < 0 or out.rotate_bytes < 0 or out.rotate_keep < 1:
        raise WirescoreError(f"{where_s}: rotate_interval and rotate_bytes must be >= 0 "
                             "(0: off), rotate_keep >= 1")
    if out.filetype != "regular" and (out.rotate_interval or out.rotate_bytes):
        raise WirescoreError(f"{where_s}: rotation is for regular files, not "
                             f"{out.filetype}")
    from wirescore.outputs.app_events import eve_types

    eve_types(out.types)                         # refuses an unknown type in one line
    return out


def host_port(text: str, where_s: str) -> tuple[str, int]:
    """'HOST:PORT' (or HOST alone for Redis' 6379) as (host, port)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "6379")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536:
        raise WirescoreError(f"{where_s}: {text!r} is not HOST:PORT")
    return host, number


def open_output(out: EveOutput, log_dir: Path, live: bool = False):
    """The writer of one output: an EveWriter for regular and stdout (whole lines,
    blocking), a buffered peer output for the others (outputs/eve_sockets.py). Raises
    WirescoreError naming the output when a file cannot be opened. live: the run
    captures live, so a file that cannot be written keeps its lines (up to buffer_mb)
    and is tried again instead of ending the run (outputs/eve.py EveWriter)."""
    from wirescore.outputs import eve_sockets as peers
    from wirescore.outputs.eve_file import EveWriter, StdoutWriter
    from wirescore.outputs.rotation import RotatingWriter

    buffer_bytes = out.buffer_mb << 20
    name = out.describe(log_dir)
    if out.filetype in ("regular", "stdout"):
        path = log_dir / out.where if out.filetype == "regular" else None
        try:
            if path is None:
                return StdoutWriter()
            if out.rotate_interval or out.rotate_bytes or "%" in out.where:
                return RotatingWriter(path, out.rotate_interval, out.rotate_bytes,
                                      out.rotate_keep, live, buffer_bytes, out.label)
            return EveWriter(path, live, buffer_bytes, out.label)
        except OSError as exc:
            raise WirescoreError(f"{path}: cannot open for writing: {exc.strerror}") from None
    if out.filetype in ("unix_stream", "unix_dgram"):
        kind = socket.SOCK_STREAM if out.filetype == "unix_stream" else socket.SOCK_DGRAM
        return peers.SocketOutput(name, out.label, os.fspath(log_dir / out.where), kind,
                                  buffer_bytes)
    if out.filetype == "redis":
        host, port = host_port(out.where, name)
        return peers.RedisOutput(name, out.label, host, port, out.redis_mode, out.redis_key,
                                 buffer_bytes)
    address = out.where if out.where.startswith("/") else host_port(out.where, name)
    prefix = peers.syslog_prefix(FACILITIES[out.facility.lower()], LEVELS[out.level.lower()],
                                 out.identity)
    return peers.SocketOutput(name, out.label, address, socket.SOCK_DGRAM, buffer_bytes,
                              prefix=prefix, strip_newline=True)
