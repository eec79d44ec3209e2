"""Starting the dashboard: check the address, bind it, run uvicorn on the bound socket.

    serve(ServeArgs(log_dir="logs"))                  # `wirescore serve -l logs`
    child = start_child(ServeArgs(...))               # `wirescore run ... --serve PORT`

The socket is bound here, before uvicorn starts, so that a port in use or an address
that does not exist is a one-line error at once, and so that `run --serve` can bind in
the run's process and hand the socket to a child process (the server never shares the
engine's process: it cannot take the engine's CPU or GIL, only read its file).
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wirescore.errors import WirescoreError
from wirescore.serve.settings import (DEFAULT_EVE, DEFAULT_HOST, DEFAULT_PORT, LOOPBACK,
                                      ServeSettings)

log = logging.getLogger(__name__)


@dataclass
class ServeArgs:
    """One server's arguments, as the command line gives them."""

    log_dir: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    eve_name: str = DEFAULT_EVE
    token: Optional[str] = None
    token_file: Optional[str] = None
    settings: ServeSettings = field(default_factory=ServeSettings)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def parse_address(text: str) -> tuple:
    """'[HOST:]PORT' -> (host, port); HOST may be an IPv6 address in brackets
    ('[::1]:8080'). Raises WirescoreError with a one-line reason."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise WirescoreError(f"--serve {text}: expected [HOST:]PORT with a port from 1 to "
                             "65535, e.g. 8080 or 127.0.0.1:8080")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(args: ServeArgs, need_dir: bool = True) -> None:
    """The arguments' one-line errors: a missing log directory, a token missing for an
    address beyond loopback, an unreadable or short token file; loads token_file into
    token. Also imports what serving needs (the serve extra)."""
    if need_dir and not Path(args.log_dir).is_dir():
        raise WirescoreError(f"{args.log_dir}: no such log directory (give the -l of "
                             "`wirescore run`, or Suricata's log directory)")
    if "/" in args.eve_name or args.eve_name in ("", ".", ".."):
        raise WirescoreError(f"--eve {args.eve_name}: a file name inside the log directory")
    if args.token_file and args.token is None:
        try:
            from wirescore.serve.auth import read_token_file
            args.token = read_token_file(args.token_file)
        except ValueError as exc:
            raise WirescoreError(str(exc)) from None
    elif args.token is not None:
        from wirescore.serve.auth import check_token
        try:
            check_token(args.token)
        except ValueError as exc:
            raise WirescoreError(str(exc)) from None
    if args.token is None and not is_loopback(args.host):
        raise WirescoreError(f"--host {args.host}: serving beyond loopback needs a token "
                             "(--token or --token-file); or keep the default 127.0.0.1")
    preflight()


def preflight() -> None:
    """Import the serve extra's packages, or a one-line error naming the extra."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        raise WirescoreError(f"the dashboard needs the serve extra ({exc.name} is missing): "
                             "pip install 'wirescore[serve]'") from None
    from wirescore.serve.app import plotly_js
    plotly_js()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; a one-line WirescoreError when it cannot be
    had (port in use, address not on this host, port needing root)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "port in use (another server? choose one with --port)",
               errno.EADDRNOTAVAIL: "not an address of this host",
               errno.EACCES: "permission denied (ports below 1024 need root)"}
        raise WirescoreError(f"{host}:{port}: cannot listen: "
                             f"{why.get(exc.errno, exc.strerror or str(exc))}") from None
    except (socket.gaierror, OverflowError, TypeError) as exc:
        sock.close()
        raise WirescoreError(f"{host}:{port}: cannot listen: {exc}") from None
    return sock


def serve(args: ServeArgs, sock: Optional[socket.socket] = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn's handlers). sock: an already bound socket
    (run --serve's), else args.host:args.port is bound here."""
    import uvicorn

    from wirescore.serve.app import build_app

    if sock is None:
        sock = bind(args.host, args.port)
    app = build_app(args.log_dir, args.eve_name, args.settings, args.token)
    s = args.settings
    log.info("dashboard on %s following %s (index: newest %d alerts, %d flow events)%s",
             args.url, Path(args.log_dir) / args.eve_name, s.max_alerts, s.max_flows,
             "; token required on /api and /ws" if args.token else "")
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws=ws_protocol(),
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _end_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the run's process dies, however it
    dies, so that no server outlives its run."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):       # PR_SET_PDEATHSIG: 1; other systems: no-op
        pass


def ws_protocol() -> str:
    """uvicorn's WebSocket implementation over the websockets package: the sans-I/O one
    where this uvicorn has it (the older one is deprecated there)."""
    from uvicorn.config import WS_PROTOCOLS

    return "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "websockets"


def start_child(args: ServeArgs) -> subprocess.Popen:
    """`wirescore serve` in a child process on a socket bound here (errors at once, in
    this process). The child ends on SIGTERM or SIGINT."""
    check(args, need_dir=False)
    sock = bind(args.host, args.port)
    cmd = [sys.executable, "-m", "wirescore", "serve", "-l", str(args.log_dir),
           "--eve", args.eve_name, "--host", args.host, "--port", str(args.port),
           "--fd", str(sock.fileno())]
    if args.token_file:
        cmd += ["--token-file", args.token_file]
    try:
        return subprocess.Popen(cmd, pass_fds=[sock.fileno()], stdin=subprocess.DEVNULL,
                                preexec_fn=_end_with_parent)
    finally:
        sock.close()
