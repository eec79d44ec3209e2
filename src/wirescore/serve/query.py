"""Filters over indexed alerts, parsed from query parameters (REST) or a WebSocket
message: one parser, one matcher, so the feed and the API agree.

    severity=1,2          alerts of these severities (1 highest .. 4)
    signature=TEXT        signature id (digits) or text found in the signature (any case)
    address=IP            source or destination address equal to IP (IPv4 or IPv6)
    since=N               alerts with an id greater than N (a cursor: ids only grow)
    since=TIMESTAMP       alerts at or after an EVE/ISO-8601 time (packet time)
    limit=N               at most N alerts (1..page_max; default page_default)
    before=N              alerts with an id less than N (older pages)

Bad values raise QueryError with a one-line message naming the parameter.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from wirescore.serve.index import SEVERITIES, Alert, EventIndex, epoch_of
from wirescore.serve.settings import ServeSettings

KNOWN = ("severity", "signature", "address", "since", "limit", "before", "token")


class QueryError(ValueError):
    """A bad filter: str() is one line, '<parameter>: <what is wrong>'."""


@dataclass(frozen=True)
class AlertQuery:
    """A parsed filter (module docstring); the empty query matches every alert."""

    severities: frozenset = frozenset()
    signature_id: Optional[int] = None
    signature_text: str = ""
    address: str = ""
    since_id: int = 0
    since_epoch: Optional[float] = None
    before_id: Optional[int] = None
    limit: int = 50

    @classmethod
    def parse(cls, params: Mapping[str, str], settings: ServeSettings = ServeSettings()
              ) -> "AlertQuery":
        unknown = sorted(set(params) - set(KNOWN))
        if unknown:
            raise QueryError(f"{unknown[0]}: unknown parameter (known: "
                             f"{', '.join(k for k in KNOWN if k != 'token')})")
        sev = frozenset(_severities(params.get("severity", "")))
        sig = params.get("signature", "").strip()
        if len(sig) > 200:
            raise QueryError("signature: longer than 200 characters")
        address = params.get("address", "").strip()
        if address:
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                raise QueryError("address: not an IPv4 or IPv6 address") from None
        since_id, since_epoch = _since(params.get("since", "").strip())
        before = params.get("before", "").strip()
        before_id = _count("before", before, 1, 1 << 62) if before else None
        limit_text = params.get("limit", "").strip()
        limit = (_count("limit", limit_text, 1, settings.page_max) if limit_text
                 else settings.page_default)
        return cls(sev, int(sig) if _digits(sig) else None,
                   "" if _digits(sig) else sig.lower(), address, since_id, since_epoch,
                   before_id, limit)

    def matches(self, a: Alert) -> bool:
        if self.severities and a.severity not in self.severities:
            return False
        if self.signature_id is not None and a.signature_id != self.signature_id:
            return False
        if self.signature_text and self.signature_text not in a.signature.lower():
            return False
        if self.address and self.address not in (a.src_ip, a.dest_ip):
            return False
        if a.id <= self.since_id or (self.before_id is not None and a.id >= self.before_id):
            return False
        if self.since_epoch is not None and (a.epoch is None or a.epoch < self.since_epoch):
            return False
        return True

    def run(self, index: EventIndex) -> dict:
        """The matching alerts, newest first, at most `limit`; `next_before` pages on
        (None when there is no older match in the index)."""
        found = []
        for a in _newest_first(index.alerts.values(), self.before_id):
            if a.id <= self.since_id:
                break
            if self.matches(a):
                found.append(a)
                if len(found) > self.limit:
                    break
        more = len(found) > self.limit
        found = found[:self.limit]
        return {"alerts": [a.summary() for a in found],
                "next_before": found[-1].id if more and found else None,
                "newest_id": index.next_id - 1}


def _newest_first(alerts: Iterable[Alert], before_id: Optional[int]):
    for a in reversed(alerts):
        if before_id is None or a.id < before_id:
            yield a


def _severities(text: str) -> list:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not _digits(part) or int(part) not in SEVERITIES:
            raise QueryError(f"severity: {part[:20]!r} is not one of 1, 2, 3, 4")
        out.append(int(part))
    return out


def _since(text: str) -> tuple:
    if not text:
        return 0, None
    if _digits(text):
        return _count("since", text, 0, 1 << 62), None
    epoch = epoch_of(text)
    if epoch is None:
        raise QueryError("since: neither an alert id nor a timestamp "
                         "(2010-07-04T20:24:16.466459+0000)")
    return 0, epoch


def _count(name: str, text: str, low: int, high: int) -> int:
    if not _digits(text) or not low <= int(text) <= high:
        raise QueryError(f"{name}: not a whole number from {low} to {high}")
    return int(text)


def _digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() also takes '²', which int() refuses)."""
    return text.isascii() and text.isdigit()
