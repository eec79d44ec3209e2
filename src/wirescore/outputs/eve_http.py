"""EVE http and fileinfo events from the core's HTTP records (HTTP_EVENT_DTYPE and
FILE_EVENT_DTYPE, ext/app/http.pxd), with Suricata's field names.

    http:     {..., "event_type": "http", "tx_id",
               "http": {"hostname", "http_port", "url", "http_user_agent",
                        "http_content_type", "http_method", "protocol", "status",
                        "length", "http_refer", "redirect"}}
    fileinfo: {..., "event_type": "fileinfo", "tx_id",
               "http": {"http_content_type"},
               "fileinfo": {"filename", "magic", "gaps", "state", "stored", "size",
                            "tx_id"}}

Where this differs from Suricata, and why: Suricata writes one http event per
transaction once both halves are seen; the core writes one per header block, as it is
read (its state holds no URI until the response comes), so a transaction is two events
sharing tx_id: the request's (hostname, http_port, url, http_user_agent, http_refer,
http_method, protocol, and http_content_type / length of a request body) and the
response's (status, http_content_type, length, redirect, protocol). `length` is the
Content-Length when given (Suricata counts the body bytes it saw). A fileinfo event is
written when a body's first bytes were examined, not when the file closes: its state is
CLOSED when the whole body was among them, else TRUNCATED (the rest was skipped unread);
size is the Content-Length when given; magic is a libmagic-like name of the kind found
(MAGIC_TEXT), absent when none; the declared type beside it is the event's
http.http_content_type (the schema allows no extra fileinfo fields); filename is the
request URI's last path segment (HTTP_FNAME bytes kept).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from wirescore.core_names import HTTP_BITS
from wirescore.msg_names import MAGIC_NAMES
from wirescore.outputs.eve_dns import text_of
from wirescore.outputs.eve_head import EventHead

#: what libmagic (file 5.x) prints first for each kind of msg_names.MAGIC
MAGIC_TEXT = {
    "pe": "PE32 executable (MS Windows)",
    "mz": "MS-DOS executable",
    "elf": "ELF executable",
    "macho": "Mach-O executable",
    "macho-fat": "Mach-O universal binary",
    "java-class": "compiled Java class data",
    "script": "a script text executable",
    "powershell": "PowerShell script text",
    "vbscript": "VBScript text",
    "jscript": "JavaScript source",
    "zip": "Zip archive data",
    "rar": "RAR archive data",
    "7z": "7-zip archive data",
    "gzip": "gzip compressed data",
    "cab": "Microsoft Cabinet archive data",
    "pdf": "PDF document",
    "ole": "Composite Document File V2 Document",
}
#: HttpEvent fields (ext/app/http.pxd HF_*), in field_off / field_len order
FIELDS = ("method", "uri", "host", "user_agent", "referer", "content_type", "location",
          "reason")
_HEAD = ("flow_id", "ts_us", "nvlan", "vlan0", "vlan1", "ip_version", "proto", "src_port",
         "dest_port", "tx_id", "direction")


def http_fields(row: dict, text: bytes, off, length) -> dict[str, bytes]:
    """An HttpEvent's kept fields by FIELDS name (present ones only), as bytes."""
    request = not row["flags"] & HTTP_BITS["HE_RESPONSE"]
    return {name: text[off[k]:off[k] + length[k]] for k, name in enumerate(FIELDS)
            if length[k] or (request and name in ("method", "uri"))}


def host_port(host: str) -> tuple[str, int | None]:
    """A Host header's name and port ("example.com:8080" -> ("example.com", 8080)); an
    IPv6 literal keeps its brackets off."""
    name, sep, port = host.rpartition(":")
    if sep and port.isascii() and port.isdigit() and not name.endswith(":") and (
            "]" not in port) and (name.endswith("]") or ":" not in name):
        return name.strip("[]"), int(port)
    return host.strip("[]") if host.startswith("[") else host, None


class _Head(EventHead):
    """The identity every app event starts with (eve_head.EventHead), then the
    transaction's tx_id."""

    def __call__(self, row, src_addr, dst_addr, event_type: str) -> dict[str, Any]:
        ev = super().__call__(row, src_addr, dst_addr, event_type)
        ev["tx_id"] = row["tx_id"]
        return ev


def _rows(records: np.ndarray, names) -> Iterable[tuple[int, dict]]:
    cols = {name: records[name].tolist() for name in names}
    for i in range(len(records)):
        yield i, {name: col[i] for name, col in cols.items()}


class HttpEventFormatter:
    """HTTP_EVENT_DTYPE records -> EVE http event dicts (module docstring)."""

    kind = "http"

    def __init__(self, community_id_seed: int = 0):
        self._head = _Head(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        src, dst, text = records["src_addr"], records["dest_addr"], records["text"]
        offs, lens = records["field_off"].tolist(), records["field_len"].tolist()
        for i, row in _rows(records, _HEAD + ("flags", "status", "content_length")):
            used = sum(lens[i])
            fields = http_fields(row, text[i, :used].tobytes(), offs[i], lens[i])
            ev = self._head(row, src[i], dst[i], "http")
            ev["http"] = self._http(row, {k: text_of(v) for k, v in fields.items()})
            yield ev

    @staticmethod
    def _http(row, f: dict[str, str]) -> dict[str, Any]:
        flags = row["flags"]
        h: dict[str, Any] = {}
        if "host" in f:
            h["hostname"], port = host_port(f["host"])
            if port is not None:
                h["http_port"] = port
        if "uri" in f:
            h["url"] = f["uri"]
        if "user_agent" in f:
            h["http_user_agent"] = f["user_agent"]
        if "content_type" in f:
            h["http_content_type"] = f["content_type"]
        if "referer" in f:
            h["http_refer"] = f["referer"]
        if "method" in f:
            h["http_method"] = f["method"]
        h["protocol"] = "HTTP/1.0" if flags & HTTP_BITS["HE_HTTP10"] else "HTTP/1.1"
        if flags & HTTP_BITS["HE_RESPONSE"] and row["status"]:
            h["status"] = row["status"]
        if "location" in f:
            h["redirect"] = f["location"]
        if flags & HTTP_BITS["HE_LENGTH"]:
            h["length"] = row["content_length"]
        return h


class FileEventFormatter:
    """FILE_EVENT_DTYPE records -> EVE fileinfo event dicts (module docstring)."""

    kind = "fileinfo"

    def __init__(self, community_id_seed: int = 0):
        self._head = _Head(community_id_seed)

    def events(self, records: np.ndarray) -> Iterable[dict[str, Any]]:
        if not len(records):
            return
        src, dst = records["src_addr"], records["dest_addr"]
        fname, ctype = records["fname"], records["ctype"]
        for i, row in _rows(records, _HEAD + ("flags", "size", "magic", "fname_len",
                                              "ctype_len")):
            ev = self._head(row, src[i], dst[i], "fileinfo")
            if row["ctype_len"]:
                ev["http"] = {"http_content_type":
                              text_of(ctype[i, :row["ctype_len"]].tobytes())}
            ev["fileinfo"] = self._fileinfo(row, fname[i, :row["fname_len"]].tobytes())
            yield ev

    @staticmethod
    def _fileinfo(row, name: bytes) -> dict[str, Any]:
        flags = row["flags"]
        f: dict[str, Any] = {"filename": text_of(name)}
        magic = MAGIC_TEXT.get(MAGIC_NAMES[row["magic"]])
        if magic:
            f["magic"] = magic
        f["gaps"] = bool(flags & HTTP_BITS["FE_GAPS"])
        f["state"] = "CLOSED" if flags & HTTP_BITS["FE_CLOSED"] else "TRUNCATED"
        f["stored"] = False
        if flags & HTTP_BITS["FE_SIZE"]:
            f["size"] = row["size"]
        f["tx_id"] = row["tx_id"]
        return f
