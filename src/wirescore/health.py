"""The health object of every stats event: what a monitor needs to alert on a sensor that
runs but no longer sees or writes anything.

    {"uptime": 3600,                 seconds the run has been up (see below)
     "capture_state": "running",     running | link_down (the source says so) |
                                     finished (a file read to its end) | stopped (a
                                     stop was asked: SIGTERM, SIGINT) | failed
     "last_packet": "2026-...+0000", the newest packet's time (absent before the first)
     "kernel_drops": 0,              packets the kernel dropped (capture.kernel_drops)
     "link_losses": 0,               live interface: times it went away (capture.errors
                                     counts them too), and the seconds without capture
     "seconds_without_capture": 0.0, they made, the running episode included
     "outputs": {"eve": {"state": "writing", "queued_bytes": 0, "dropped": 0}}}
                                     a live run's files (eve and other EVE files,
                                     snippets, export): writing; waiting (lines kept in
                                     memory: the disk is full...); failing (snippets:
                                     the last one could not be written; a Parquet
                                     export: failed, stopped); bytes kept; lines (or
                                     snippets, rows) dropped so far

uptime: wall-clock seconds since the run started on a live capture; on a file read the
packet time since its first packet (as stats.uptime), so that a replay writes the same
bytes every time.

Where: Suricata's EVE schema allows no key of its own in a stats event (the event and its
`stats` object are closed: additionalProperties false). The event-level `metadata` object
is the one place it leaves open (metadata.flowints: any object), so the health object is
metadata.flowints.wirescore_health (HEALTH_PATH), and every stats line stays valid.
"""
from __future__ import annotations

from typing import Iterable, Optional

#: where the health object sits in a stats event
HEALTH_PATH = ("metadata", "flowints", "wirescore_health")
#: capture states, least to most urgent (a merge over workers keeps the most urgent)
STATES = ("finished", "stopped", "running", "link_down", "failed")


def put(event: dict, health: dict) -> dict:
    """Put `health` at HEALTH_PATH of a stats event; returns the event."""
    node = event
    for key in HEALTH_PATH[:-1]:
        node = node.setdefault(key, {})
    node[HEALTH_PATH[-1]] = health
    return event


def get(event: dict) -> Optional[dict]:
    """The health object of a stats event (None when it has none)."""
    node = event
    for key in HEALTH_PATH:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def put_output(event: dict, label: str, figures: dict) -> None:
    """Set one output's figures in a stats event's health object (the parent of
    --workers: the merged eve.json is its own); nothing when either is missing."""
    found = get(event)
    if found is not None and figures:
        found.setdefault("outputs", {})[label] = figures


def build(uptime_s: float, capture_state: str, last_packet: Optional[str],
          kernel_drops: int, outputs: dict) -> dict:
    """The health object (module docstring); outputs: {label: the output's health()},
    those with nothing to say ({}) left out."""
    out = {"uptime": int(uptime_s), "capture_state": capture_state}
    if last_packet is not None:
        out["last_packet"] = last_packet
    out["kernel_drops"] = int(kernel_drops)
    kept = {label: h for label, h in outputs.items() if h}
    if kept:
        out["outputs"] = kept
    return out


def put_link(health: dict, losses: int, seconds: float) -> None:
    """A live interface's link losses and the seconds without capture they made."""
    health["link_losses"] = int(losses)
    health["seconds_without_capture"] = round(float(seconds), 1)


def merge(healths: Iterable[Optional[dict]]) -> Optional[dict]:
    """One health object for several workers' (None where a worker sent none): the
    largest uptime, the most urgent state, the newest packet, drops and output
    figures summed (an output waiting in any worker is waiting)."""
    parts = [h for h in healths if h]
    if not parts:
        return None
    out = {"uptime": max(h.get("uptime", 0) for h in parts),
           "capture_state": max((h.get("capture_state", "running") for h in parts),
                                key=lambda s: STATES.index(s) if s in STATES else 0)}
    stamps = [h["last_packet"] for h in parts if "last_packet" in h]
    if stamps:
        out["last_packet"] = max(stamps)       # one format: text order is time order
    out["kernel_drops"] = sum(h.get("kernel_drops", 0) for h in parts)
    if any("link_losses" in h for h in parts):   # each worker's handle: summed
        put_link(out, sum(h.get("link_losses", 0) for h in parts),
                 sum(h.get("seconds_without_capture", 0.0) for h in parts))
    outputs: dict = {}
    for h in parts:
        for label, figures in h.get("outputs", {}).items():
            into = outputs.setdefault(label, {"state": "writing", "queued_bytes": 0,
                                              "dropped": 0})
            if figures.get("state", "writing") != "writing":
                into["state"] = figures["state"]
            into["queued_bytes"] += figures.get("queued_bytes", 0)
            into["dropped"] += figures.get("dropped", 0)
    if outputs:
        out["outputs"] = outputs
    return out
