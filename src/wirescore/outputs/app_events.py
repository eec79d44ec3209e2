"""App-layer events on their way out: each kind's EVE writer (one module a protocol,
outputs/eve_<kind>.py: event dicts for callbacks and export, the reference), its lines
in C (what eve.json gets), the batch they travel in, and which EVE event types a run
writes (outputs.eve.types).

A kind is one of core_names.APP_EVENT_KINDS; the core hands its events over as numpy
records of the kind's dtype (wirescore._core.appcore.EVENT_DTYPES).
"""
from __future__ import annotations

import functools
import importlib
import os
from typing import Optional

import numpy as np

from wirescore.core_names import APP_EVENT_KINDS
from wirescore.errors import WirescoreError
from wirescore.outputs.eve import _dumps
from wirescore.outputs.eve_dns import DnsEventFormatter
from wirescore.outputs.eve_krb5 import Krb5EventFormatter
from wirescore.outputs.eve_ldap import LdapEventFormatter
from wirescore.outputs.eve_dcerpc import DcerpcEventFormatter
from wirescore.outputs.eve_http import FileEventFormatter, HttpEventFormatter
from wirescore.outputs.eve_tls import TlsEventFormatter
from wirescore.outputs.eve_ssh import SshEventFormatter
from wirescore.outputs.eve_smb import SmbEventFormatter

#: the EVE writer of each app-layer event kind
FORMATTERS = {"dns": DnsEventFormatter,
              "krb5": Krb5EventFormatter,
              "ldap": LdapEventFormatter,
              "dcerpc": DcerpcEventFormatter,
              "http": HttpEventFormatter,
              "fileinfo": FileEventFormatter,
              "tls": TlsEventFormatter,
              "ssh": SshEventFormatter,
              "smb": SmbEventFormatter,
              }


#: kinds whose EVE lines are formatted in C: (module, function), f(records, fd=-1)
C_LINE_WRITERS = {"dns": ("wirescore._core.evedns", "format_dns"),
                  "tls": ("wirescore._core.eveapp", "format_tls"),
                  "http": ("wirescore._core.eveapp", "format_http"),
                  "fileinfo": ("wirescore._core.eveapp", "format_fileinfo"),
                  "ssh": ("wirescore._core.eveapp", "format_ssh"),
                  }


def line_writer(kind: str, community_id_seed: int = 0):
    """The kind's EVE lines: f(records, fd=-1) -> the lines as bytes, or with fd >= 0
    written there and their byte count; each community_id hashed with community_id_seed
    (0..65535). In C for the kinds of C_LINE_WRITERS (byte for
    byte json of FORMATTERS[kind]'s events: tests/test_eve_dns_c.py,
    tests/test_eve_app_c.py), else the json of
    FORMATTERS[kind]'s events, compact and ASCII as every EVE line."""
    if kind in C_LINE_WRITERS:
        module, name = C_LINE_WRITERS[kind]
        fn = getattr(importlib.import_module(module), name)
        return functools.partial(fn, seed=community_id_seed) if community_id_seed else fn
    return _PythonLines(FORMATTERS[kind](community_id_seed))


class _PythonLines:
    """f(records, fd=-1) over a Python formatter: its events, one compact line each, of
    the records its written() keeps when it has one (else all)."""

    def __init__(self, formatter):
        self._formatter = formatter

    def __call__(self, records, fd: int = -1):
        if hasattr(self._formatter, "written"):
            records = self._formatter.written(records)
        data = "".join(_dumps(e) + "\n" for e in self._formatter.events(records)).encode("ascii")
        if fd < 0:
            return data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return len(data)


#: every EVE event type a run can write
EVE_TYPES = ("alert", "flow", "stats", "anomaly", "engine", *APP_EVENT_KINDS)


def eve_types(value: Optional[str]) -> frozenset:
    """The event types of setting outputs.eve.types: "all" (or empty) for every one,
    else a comma-separated list of EVE_TYPES. WirescoreError naming an unknown one."""
    if value is None or value.strip() in ("", "all"):
        return frozenset(EVE_TYPES)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in EVE_TYPES]
    if unknown:
        raise WirescoreError(f"outputs.eve.types: unknown event type {unknown[0]!r} "
                             f"(one of: all, {', '.join(EVE_TYPES)})")
    return frozenset(names)


class AppBatch:
    """App-layer events of one kind, in the order the core made them: records of the
    kind's dtype and, made on first use and shared by every sink, their EVE events."""

    def __init__(self, kind: str, records: np.ndarray, formatter):
        self.kind = kind
        self.records = records
        self._formatter = formatter
        self._events: Optional[list] = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def events(self) -> list[dict]:
        if self._events is None:
            self._events = list(self._formatter.events(self.records))
        return self._events
