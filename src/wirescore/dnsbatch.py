"""Vectorised reads of a batch of DNS event records (DNS_EVENT_DTYPE): the distinct
question names, and each answer's first TXT or NULL record. Plain numpy over the
fixed-width columns; no Python object per event.
"""
from __future__ import annotations

import numpy as np

_TXT_TYPES = (16, 10)          # TXT, NULL (RFC 1035 3.2.2)


def distinct_names(records: np.ndarray, ev: np.ndarray) -> tuple[np.ndarray, list,
                                                                np.ndarray]:
    """The distinct question names of events ev (records' rows, at least one), as kept
    (cut at the text's width): (of, names, kept), of[j] the index of event ev[j]'s name,
    names[k] its bytes, kept[k] a row of uint8 holding them then zeros. Two names are
    one when their kept lengths and bytes are."""
    text = records["text"]
    qlen = np.minimum(records["qname_len"][ev].astype(np.int64), text.shape[1])
    width = int(qlen.max())
    # a name's identity: its kept length (2 bytes) and bytes, zeros past the length
    keys = np.zeros((len(ev), width + 2), np.uint8)
    keys[:, 0], keys[:, 1] = qlen & 0xFF, qlen >> 8
    body = text[ev, :width]
    body[np.arange(width) >= qlen[:, None]] = 0
    keys[:, 2:] = body
    _, first, of = np.unique(keys.view(np.dtype((np.void, width + 2))).ravel(),
                             return_index=True, return_inverse=True)
    kept = body[first]
    blob = kept.tobytes()
    names = [blob[k * width:k * width + n] for k, n in enumerate(qlen[first].tolist())]
    return of.ravel(), names, kept


def first_payloads(records: np.ndarray, ev: np.ndarray, answer: np.ndarray):
    """(has, off, size) over events ev: whether the event is an answer keeping a TXT or
    NULL record, and that first such record's data as text[off:off + size] (cut at the
    text's end)."""
    types = records["an_type"][ev]
    kept = np.minimum(records["n_answers"][ev].astype(np.int64), types.shape[1])
    hit = ((types == _TXT_TYPES[0]) | (types == _TXT_TYPES[1])) \
        & (np.arange(types.shape[1]) < kept[:, None])
    has = answer & hit.any(axis=1)
    k = hit.argmax(axis=1)
    width = records["text"].shape[1]
    start = records["an_data_off"][ev, k].astype(np.int64)
    end = np.minimum(start + records["an_data_len"][ev, k], width)
    return has, np.minimum(start, width), np.maximum(end - start, 0)
