"""`wirescore serve` and `wirescore run --serve` as a user starts them: one-line errors
for a missing log directory, an address beyond loopback without a token, a short token,
a port in use; `run -r ... --serve PORT` serves what the run writes until Ctrl-C."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from serve_support import PATIENCE, SYNSCAN, free_port, real_run, wait_for

from conftest import run_wirescore

TOKEN = "a-token-of-the-tests-0123456789"


def one_line_error(proc, text: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wirescore: error: "), proc.stderr
    assert text in lines[0], lines[0]


def test_help_states_the_index_bounds():
    out = run_wirescore("serve", "--help").stdout
    assert "10,000 alerts" in out and "--max-alerts" in out and "127.0.0.1" in out
    assert "--serve [HOST:]PORT" in run_wirescore("run", "--help").stdout


def test_missing_log_directory(tmp_path):
    proc = run_wirescore("serve", "-l", tmp_path / "nope", check=False)
    one_line_error(proc, "nope: no such log directory")


def test_beyond_loopback_needs_a_token(tmp_path):
    proc = run_wirescore("serve", "-l", tmp_path, "--host", "0.0.0.0", check=False)
    one_line_error(proc, "--host 0.0.0.0: serving beyond loopback needs a token")
    proc = run_wirescore("serve", "-l", tmp_path, "--host", "0.0.0.0", "--token", "short",
                         check=False)
    one_line_error(proc, "a token needs at least 16 characters")
    proc = run_wirescore("serve", "-l", tmp_path, "--host", "0.0.0.0", "--token-file",
                         tmp_path / "missing", check=False)
    one_line_error(proc, "cannot read the token file")
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path / "l", "--serve",
                         "0.0.0.0:8080", check=False)
    one_line_error(proc, "serving beyond loopback needs a token")
    assert not (tmp_path / "l").exists()          # refused before the run


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_wirescore("serve", "-l", tmp_path, "--port", port, check=False)
        one_line_error(proc, f"127.0.0.1:{port}: cannot listen: port in use")
        proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, "--serve", str(port),
                             check=False)
        one_line_error(proc, "port in use")


@pytest.mark.parametrize("spec", ["http", "0", "99999", "host:"])
def test_bad_serve_address(tmp_path, spec):
    proc = run_wirescore("run", "-r", SYNSCAN, "-l", tmp_path, "--serve", spec, check=False)
    one_line_error(proc, f"--serve {spec}: expected [HOST:]PORT")


def get(url: str, token: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})
    with urllib.request.urlopen(req, timeout=PATIENCE) as r:
        return json.loads(r.read())


def test_run_with_serve_serves_what_the_run_wrote_until_ctrl_c(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "run", "-r", SYNSCAN,
                             "-l", tmp_path / "logs", "--serve", str(port)],
                            stderr=subprocess.PIPE, text=True)
    try:
        # the whole run on the dashboard: its alerts are written with their batch, most of
        # its flows only at the end of the file (shutdown), so wait for both
        status = wait_for(lambda: _status(port), "3 alerts and 1994 flows on the dashboard",
                          timeout=60)
        assert status["alerts_total"] == 3 and status["events"]["flow"] == 1994
        assert proc.poll() is None                  # a file was read: it stays up
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=PATIENCE)[1]
    assert proc.returncode in (0, 1), err
    assert f"dashboard on http://127.0.0.1:{port}/" in err
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/api/status")


def _status(port: int):
    try:
        s = get(f"http://127.0.0.1:{port}/api/status")
    except (OSError, urllib.error.URLError):
        return None
    return s if s["alerts_total"] == 3 and s["events"].get("flow") == 1994 else None


def test_serve_with_a_token_file_beyond_loopback(tmp_path):
    real_run(tmp_path)
    (tmp_path / "token").write_text(TOKEN + "\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wirescore", "serve", "-l", tmp_path,
                             "--host", "0.0.0.0", "--port", str(port), "--token-file",
                             tmp_path / "token"], stderr=subprocess.PIPE, text=True)
    try:
        def ready():
            try:
                return get(f"http://127.0.0.1:{port}/api/status", TOKEN)
            except OSError:
                return None
        assert wait_for(ready, "the server")["alerts_total"] in range(0, 4)
        with pytest.raises(urllib.error.HTTPError) as err:
            get(f"http://127.0.0.1:{port}/api/alerts")
        assert err.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as err:
            get(f"http://127.0.0.1:{port}/api/alerts", "wrong-token-0123456789")
        assert err.value.code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=PATIENCE)[1]
    assert TOKEN not in err
