"""Anomaly models, and the one protocol every model follows.

River's anomaly protocol, one sample at a time (a sample is a mapping of feature name
to number):

- ``learn_one(x)``: update the model with the sample; returns None.
- ``score_one(x)``: the sample's anomaly score, a finite float; higher = more
  anomalous. It does not change the model.

so a River anomaly detector can stand wherever a wirescore model does. wirescore's own
models declare three traits as class attributes; an object without them (a River
model, a user's own) has the defaults:

- ``batched`` (False): the model also has ``score_many(X)``, ``learn_many(X)`` and
  ``score_learn_many(X)`` over 2-d float64 arrays, one row per sample, one column per
  feature in the model's ``features`` order; ``score_learn_many`` is "score, then
  learn" per row, in order. Each equals the row-by-row protocol, row for row, however
  a stream is cut into batches.
- ``scaled`` (True): the model takes the features min-max scaled to [0, 1] by the
  detector (what Half-Space Trees assume); False: as the profile's transform leaves them.
- ``learns`` (True): False for a model fitted offline (ONNX): learning does nothing and
  a batch is scored at once.

tests/model_contract.py holds every model to this (batched equals row by row, the same
seed gives the same scores, scores are finite and higher on an obvious outlier, the
state stays bounded, pickling round-trips where a model can be pickled).

- HalfSpaceTrees: native Half-Space Trees, River's algorithm and scores (models/hst.py).
- TailModel: one-sided ("more is worse") conformal tail scores against the last N
  learned samples (or N bursts, each counted once), for counts such as a flow's
  endpoint activity (models/tail.py).
- ExtremeCounts: counts beyond absolute floors and the network's own busy tail
  (models/extreme.py).
- OnnxModel: a model trained offline, in an ONNX file, scored with onnxruntime
  (models/onnx.py; imported on use, so that onnxruntime loads only when needed).
- models/registry.py builds any of them, or a River model (models/river_anomaly.py),
  from a profile's ``model:`` mapping; models/adapters.py gives the detector one
  batched interface over all of them.
"""
from wirescore.models.hst import HalfSpaceTrees

__all__ = ["HalfSpaceTrees"]
