"""Goals and the regression tolerance of the benchmark suite, stated once.

Imported by conftest.py (report, --bench-check-goals) and compare.py (baseline gate).
"""

GOAL_RATIO = 0.65          # full run packets/s over bare pcapy-ng loop packets/s, at least
GOAL_RSS_FLOWS_MB = 400    # peak RSS with 1,000,000 concurrent flows, at most (MB = 10**6 B)
GOAL_FLOWS = 1_000_000     # the flow count the RSS goal is stated for
GOAL_HST_SPEEDUP = 100     # native Half-Space Trees score+learn samples/s over River's, at least
TOLERANCE = 0.10           # compare.py fails when the ratio drops more than this fraction
                           # below the baseline's ratio
