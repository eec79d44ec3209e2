"""`wirescore serve`: the dashboard command (wirescore.serve; the serve extra).

Its own module, as cli_models.py, so that cli.py stays a list of thin commands and the
web packages are imported only when the command runs.
"""
from __future__ import annotations

import logging
import socket

import click

from wirescore.cli_error import CliError
from wirescore.errors import WirescoreError
from wirescore.serve.settings import DEFAULT_EVE, DEFAULT_HOST, DEFAULT_PORT, ServeSettings

log = logging.getLogger("wirescore")

_DEFAULTS = ServeSettings()

EPILOG_SERVE = f"""\b
Examples:
  wirescore serve -l logs/                          beside `wirescore run -l logs/`
  wirescore run -i eth0 -l logs/ --serve 8080       both in one command
  wirescore serve -l /var/log/suricata              Suricata's own eve.json
  wirescore serve -l logs/ --host 0.0.0.0 --token-file /etc/wirescore/token

\b
The page follows LOGDIR/eve.json as it grows, across rotation (a new file at the
name, or a file that shrank) and SIGHUP reopen. Memory is bounded: the index keeps
the newest {_DEFAULTS.max_alerts:,} alerts (--max-alerts; about 2.5 KB each) and the newest
{_DEFAULTS.max_flows:,} flow events (--max-flows; about 0.7 KB each); counters, top talkers
and charts count every alert read. REST API under /api (OpenAPI document:
/api/openapi.json); live feed on /ws.
\b
Safe by default: listens on 127.0.0.1; any other address needs a token (--token or
--token-file), sent as `Authorization: Bearer TOKEN` or ?token=TOKEN (open the page as
http://HOST:PORT/?token=TOKEN). Snippets are served only from LOGDIR/pcaps/.
"""


@click.command("serve", epilog=EPILOG_SERVE)
@click.option("-l", "--log-dir", "log_dir", default=".", show_default=True,
              type=click.Path(file_okay=False),
              help="Log directory holding eve.json and pcaps/ (a run's -l).")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on; anything but loopback needs a token.")
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(1, 65535), help="TCP port to listen on.")
@click.option("--eve", "eve_name", default=DEFAULT_EVE, show_default=True,
              help="EVE file name inside the log directory (as --eve-filename).")
@click.option("--token", default=None,
              help="Token required on /api and /ws (at least 16 characters). Prefer "
                   "--token-file: a command line is visible to other users.")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="File whose first line is the token.")
@click.option("--max-alerts", default=_DEFAULTS.max_alerts, show_default=True,
              type=click.IntRange(1, 10_000_000),
              help="Newest alerts kept in memory to list and open [alerts].")
@click.option("--max-flows", default=_DEFAULTS.max_flows, show_default=True,
              type=click.IntRange(1, 10_000_000),
              help="Newest flow events kept in memory, to open an alert's flow [flows].")
@click.option("--fd", type=int, default=None, hidden=True,
              help="A bound listening socket (from `run --serve`).")
def serve_cmd(log_dir, host, port, eve_name, token, token_file, max_alerts, max_flows, fd):
    """Serve a live dashboard over a log directory's eve.json (needs the serve extra).

    An alert feed (severity, signature, addresses, score, the features that stood out),
    each alert opening to its flow, its explanation and its PCAP snippet; charts of
    packets/s, flows/s and alerts per minute; top talkers; decode errors and drops.
    Updates arrive over a WebSocket as lines reach the file. Stop with Ctrl-C.
    """
    from dataclasses import replace

    from wirescore.serve import server

    settings = replace(_DEFAULTS, max_alerts=max_alerts, max_flows=max_flows)
    args = server.ServeArgs(log_dir, host, port, eve_name, token, token_file, settings)
    try:
        server.check(args, need_dir=fd is None)
        sock = socket.socket(fileno=fd) if fd is not None else server.bind(host, port)
        server.serve(args, sock)
    except WirescoreError as exc:
        raise CliError(str(exc)) from None


def start_serving(spec: str, token_file, log_dir, eve_name: str):
    """`run --serve [HOST:]PORT`: the dashboard in a child process (None when spec is
    None). Errors (port in use, no token beyond loopback) are one line, before the run."""
    if spec is None:
        return None
    from wirescore.serve import server

    try:
        host, port = server.parse_address(spec)
        args = server.ServeArgs(str(log_dir), host, port, eve_name, None, token_file)
        child = server.start_child(args)
    except WirescoreError as exc:
        raise CliError(str(exc)) from None
    log.debug("dashboard: child process %d", child.pid)
    return child


def stop_serving(child, keep: bool) -> None:
    """After a run: with keep (a file was read), the page stays up until SIGINT (Ctrl-C)
    or SIGTERM; then the child is ended (SIGTERM) and waited for."""
    if child is None:
        return
    import threading

    from wirescore import signals

    stop = threading.Event()
    restore = signals.install(on_stop=stop.set)
    try:
        if keep and child.poll() is None:
            log.info("run done; the dashboard stays up until Ctrl-C")
            while child.poll() is None and not stop.wait(0.2):
                pass
    finally:
        restore()
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=10)
        except Exception:                  # noqa: BLE001 - never hang the run's exit
            child.kill()
