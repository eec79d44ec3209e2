"""run.py's finding digest (tests/fuzz/run.py finding_digest): what a failed smoke prints
last, so that a CI log cut to its tail still names the error, its stack and the input.

The log is a real one: a five-line libFuzzer target in C with a heap overflow, built
with clang's ASAN and libFuzzer (skipped without clang), run on a seed that reaches it.
"""
from __future__ import annotations

import base64
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fuzz"))
import run as fuzz_run  # noqa: E402

TARGET = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 3 && data[0] == 'W' && data[1] == 'S') {
        uint8_t *buf = malloc(4);
        memcpy(buf, data, size);          /* overflows a 4-byte buffer for size > 4 */
        free(buf);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def crash_log(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang with libFuzzer (installed by .ci/run)")
    d = tmp_path_factory.mktemp("digest")
    (d / "t.c").write_text(TARGET)
    exe = d / "t"
    built = subprocess.run([clang, "-g", "-fsanitize=address,fuzzer", str(d / "t.c"),
                            "-o", str(exe)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"clang cannot build a libFuzzer target here: {built.stderr[-300:]}")
    seeds = d / "seeds"
    seeds.mkdir()
    crash_input = b"WS-overflow"
    (seeds / "one").write_bytes(crash_input)
    run = subprocess.run([str(exe), f"-artifact_prefix={d}/", "-runs=10", str(seeds)],
                         capture_output=True, text=True, cwd=d)
    assert run.returncode != 0, "the target's overflow was not found"
    return run.stdout + run.stderr, crash_input


def test_digest_names_the_error_its_stack_and_the_input(crash_log):
    text, crash_input = crash_log
    digest = fuzz_run.finding_digest(text)
    lines = digest.strip().splitlines()
    assert lines[0] == "--- finding digest ---"
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in lines[1]
    frames = [ln for ln in lines if ln.lstrip().startswith("#")]
    assert 1 <= len(frames) <= 12
    assert any("LLVMFuzzerTestOneInput" in ln and "t.c:" in ln for ln in frames)
    assert any(ln.startswith("SUMMARY: AddressSanitizer: heap-buffer-overflow")
               for ln in lines)
    b64 = [ln for ln in lines if ln.startswith("input base64: ")]
    assert len(b64) == 1
    assert base64.b64decode(b64[0].split(": ", 1)[1]) == crash_input


def test_digest_of_the_log_tail_alone_still_holds_the_input(crash_log):
    """The digest reads the whole log; a tail without the error still gives the input."""
    text, crash_input = crash_log
    tail = text[text.index("Test unit written to"):]
    digest = fuzz_run.finding_digest(tail)
    assert "ERROR:" not in digest
    assert base64.b64encode(crash_input).decode() in digest


def test_no_digest_for_a_clean_run():
    clean = "INFO: Seed: 1\n#2\tINITED cov: 3\nDone 10 runs in 0 second(s)\n"
    assert fuzz_run.finding_digest(clean) == ""
