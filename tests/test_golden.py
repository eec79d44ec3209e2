"""eve.json, the export and the snippets of every shared capture equal the golden digests.

The golden file (tests/golden/shared.json) is what the code wrote when it was last
regenerated on purpose (tests/golden/make_golden.py). A refactor must leave every digest
as it is; a change of behaviour regenerates the file in the same commit and says why.
"""
from __future__ import annotations

import json
import os
import sys

from conftest import REPO, need_shared

sys.path.insert(0, str(REPO / "tests" / "golden"))
import make_golden  # noqa: E402


def test_every_shared_capture_as_golden():
    data = need_shared()
    expected = json.loads(make_golden.GOLDEN.read_text())
    got = make_golden.compute(data, jobs=min(2, os.cpu_count() or 1))
    diff = make_golden.differences(expected, got)
    assert not diff, ("output changed (regenerate with tests/golden/make_golden.py only "
                      "when the change is meant):\n" + "\n".join(diff[:40]))
