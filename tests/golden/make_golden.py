"""Golden outputs: what wirescore writes for every shared capture, as digests.

For each capture under ../shared/data/pcaps (and the public evaluation mix) one run
with the default configuration (shipped profiles, snippets on) and `--export flows.csv`
gives eve.json, the export and the snippet files. The golden file keeps, per capture,
the SHA-256 of each of them, line counts by event type, and the one-line error of a
capture that is refused or damaged. tests/test_golden.py reruns every capture and
compares; a change of output must be deliberate: regenerate with

    python tests/golden/make_golden.py            # writes tests/golden/shared.json
    python tests/golden/make_golden.py --check    # compare only, list what differs

and say in the commit why the output changed (nfstream's generate_results.py idea).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GOLDEN = HERE / "shared.json"
SUFFIXES = (".pcap", ".pcapng", ".cap")


def shared_data() -> Path:
    return Path(os.environ.get("WIRESCORE_SHARED", REPO.parent / "shared")).resolve() / "data"


def captures(data: Path) -> list[Path]:
    """Every capture under data/pcaps, sorted, plus the evaluation mix."""
    found = sorted(p for p in (data / "pcaps").rglob("*")
                   if p.is_file() and p.suffix in SUFFIXES)
    mix = data / "eval" / "mix-public.pcap"
    return found + ([mix] if mix.is_file() else [])


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _eve_digest(lines: list[str]) -> str:
    """SHA-256 of eve.json's lines; a stats event of a run that read no packet is stamped
    with the wall clock (nothing to replay), so its timestamp is left out."""
    h = hashlib.sha256()
    for line in lines:
        event = json.loads(line)
        if event["event_type"] == "stats" and not event["stats"]["decoder"]["pkts"]:
            event["timestamp"] = "-"
            line = json.dumps(event, sort_keys=True)
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def run_one(pcap: str) -> dict:
    """Run one capture in this process; its digests (never raises for bad input)."""
    import logging

    from wirescore.config import Config
    from wirescore.engine import Engine
    from wirescore.errors import WirescoreError

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp) / "logs"
        export = Path(tmp) / "flows.csv"
        error = None
        try:
            Engine(Config.load(overrides={"outputs.export": str(export)}),
                   log_dir=logdir).run(pcap)
        except WirescoreError as exc:
            error = str(exc).replace(pcap, "<capture>")
        eve = logdir / "eve.json"
        lines = eve.read_text().splitlines() if eve.is_file() else []
        kinds = Counter(json.loads(line)["event_type"] for line in lines)
        snippets = {}
        if (logdir / "pcaps").is_dir():
            snippets = {p.name: _digest(p) for p in sorted((logdir / "pcaps").iterdir())}
        return {"eve": _eve_digest(lines) if eve.is_file() else None, "export": _digest(export), "events": dict(sorted(kinds.items())),
                "snippets": snippets, "error": error}


def compute(data: Path, jobs: int) -> dict:
    paths = captures(data)
    names = [str(p.relative_to(data)) for p in paths]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run_one, map(str, paths), chunksize=4))
    return dict(zip(names, results))


def differences(expected: dict, got: dict) -> list[str]:
    out = []
    for name in sorted(set(expected) | set(got)):
        e, g = expected.get(name), got.get(name)
        if e != g:
            what = [k for k in sorted(set(e or {}) | set(g or {}))
                    if (e or {}).get(k) != (g or {}).get(k)]
            out.append(f"{name}: {', '.join(what)} differ"
                       + (f" (events {e.get('events')} -> {g.get('events')})"
                          if e and g and "events" in what else ""))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the golden file")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    data = shared_data()
    if not (data / "pcaps").is_dir():
        print(f"make_golden: no shared captures at {data} (set WIRESCORE_SHARED)",
              file=sys.stderr)
        return 2
    got = compute(data, args.jobs)
    if args.check:
        diff = differences(json.loads(GOLDEN.read_text()), got)
        print("\n".join(diff) if diff else f"all {len(got)} captures as golden")
        return 1 if diff else 0
    GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({len(got)} captures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
