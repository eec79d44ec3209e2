"""What README.md promises about the code itself: the embedding example runs as printed,
and the Layout section names the package's files.

The example is the first ```python block of the "## Embedding" section, run as it is in
a fresh interpreter from a folder that holds tests/data/pcaps/ndpi-synscan.pcap, as the
repository's root does; what it prints is checked against the eve.json it wrote.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import FIXTURES, REPO

README = (REPO / "README.md").read_text()
PACKAGE = REPO / "src" / "wirescore"


def run_example(code: str, folder) -> list[str]:
    """Run `code` as example.py in `folder` (which gets tests/data/pcaps/ndpi-synscan.pcap,
    as the repository's root has it); the lines it printed. Fails on a non-zero exit."""
    (folder / "tests" / "data" / "pcaps").mkdir(parents=True)
    (folder / "tests" / "data" / "pcaps" / "ndpi-synscan.pcap").symlink_to(
        FIXTURES / "ndpi-synscan.pcap")
    (folder / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end >= 0 else None]


def test_embedding_example_runs_as_documented(tmp_path):
    code = re.search(r"```python\n(.*?)```", section("Embedding"), re.S).group(1)
    for name in ("on_flow", "on_alert", "on_stats", "on_progress", "engine.stop()"):
        assert name in code, f"the example does not show {name}"
    out = run_example(code, tmp_path)
    events = [json.loads(line) for line in (tmp_path / "logs" / "eve.json").read_text()
              .splitlines()]
    flows = [e for e in events if e["event_type"] == "flow"]
    alerts = [e for e in events if e["event_type"] == "alert"]
    stats = [e for e in events if e["event_type"] == "stats"]
    # on_progress stopped the run after two batches of 500 packets
    summary = next(line for line in out if "packets/s" in line)
    assert summary.startswith("tests/data/pcaps/ndpi-synscan.pcap: 1000 packets, "
                              f"{len(flows)} flows, {len(alerts)} alerts, "), summary
    assert stats[-1]["stats"]["decoder"]["pkts"] == 1000
    # on_stats printed every stats event, on_flow saw every flow, on_alert every alert
    assert [line for line in out if line.startswith("stats at ")] == \
        [f"stats at {e['timestamp']}" for e in stats]
    ids = sorted({a["alert"]["signature_id"] for a in alerts})
    assert out[-1] == f"{len(flows)} flows; {len(alerts)} alerts: {ids}", out[-1]
    unanswered = sum(1 for e in flows if e["proto"] == "TCP"
                     and e["flow"]["pkts_toclient"] == 0)
    printed = sum(int(line.split()[0]) for line in out if "unanswered TCP flows" in line)
    assert printed == unanswered > 0


def layout_names() -> set[str]:
    """Module paths (relative to src/wirescore) the Layout section names: 'engine.py',
    and 'workers/pool.py' for 'workers/ (pool, ...)'."""
    block = re.search(r"```\n(.*?)```", section("Layout"), re.S).group(1)
    text = block[block.index("src/wirescore/"):]
    first_end = text.index("\n") + 1
    text = text[:first_end + re.search(r"^\S", text[first_end:], re.M).start()]
    text = " ".join(text.replace("src/wirescore/", "", 1).split())
    names = set()
    for package, members in re.findall(r"\b([a-z_]+)/ \(([^)]*)\)", text):
        names |= {f"{package}/{m.split()[0]}.py" for m in members.split(",")}
    names |= set(re.findall(r"\b([a-z_]+\.py)\b", text))
    return names


def test_layout_section_names_every_module_and_only_those():
    on_disk = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py") and "_core" not in p.parts}
    named = layout_names()
    assert named, "no src/wirescore/ entry found in the Layout section"
    assert not on_disk - named, f"modules the README's Layout does not name: {on_disk - named}"
    assert not named - on_disk, f"the README's Layout names missing files: {named - on_disk}"


def test_status_example_runs_as_documented(tmp_path):
    """The second ```python block of Embedding: on_status and on_error of two runs, the
    second cut inside a record."""
    blocks = re.findall(r"```python\n(.*?)```", section("Embedding"), re.S)
    assert len(blocks) >= 2, "no on_status/on_error example"
    code = blocks[1]
    for name in ("on_status", "on_error", "RunFault"):
        assert name in code, f"the example does not show {name}"
    out = run_example(code, tmp_path)
    pcap = "tests/data/pcaps/ndpi-synscan.pcap"
    assert [line.split(" - ")[0] for line in out[:-1]] == [
        "status source_opened file", "status start file", "status stop file",
        "status source_opened file", "status start file", "error capture fatal cut.pcap",
        "status stop file"], out
    assert out[0] == f"status source_opened file - {pcap}: opened (file)"
    assert out[2].startswith(f"status stop file - {pcap}: stopped after 2011 packets, ")
    assert out[-1].startswith("stopped early: cut.pcap: capture damaged after packet ")
    assert out[-2].endswith(out[-1][len("stopped early: "):]), out[-2]
