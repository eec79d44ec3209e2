"""Feeding a capture to a FlowMeter straight, as the engine's reader does (batches of
pcapy-ng next_batch(), each fed until the meter has taken every packet), for the tests
that drive the core without the engine.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def feed_capture(path, meter_of: Callable, after_feed: Callable, batch: int = 512,
                 stop_on_error: bool = False):
    """Every packet of the capture `path` into the meter meter_of(datalink) builds,
    after_feed(meter) called after each feed() call (to drain what the test needs);
    returns the meter. batch: packets per next_batch() call; stop_on_error: a read
    error (a cut or corrupt capture) ends the capture instead of raising
    pcapy.PcapError."""
    import pcapy

    reader = pcapy.open_offline(str(path))
    meter = meter_of(reader.datalink())
    while True:
        try:
            data, meta = reader.next_batch(batch)
        except pcapy.PcapError:
            if not stop_on_error:
                raise
            break
        if not meta:
            break
        rows = np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)
        i = 0
        while i < len(rows):
            i = meter.feed(data, rows, i)
            after_feed(meter)
    return meter


def drain_to_end(meter) -> list:
    """Every flow the meter still holds ended (shutdown()): the record batches drained
    until none is left."""
    out = []
    while meter.shutdown():
        out.append(meter.drain())
    out.append(meter.drain())
    return out
