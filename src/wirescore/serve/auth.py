"""The token check: an ASGI middleware in front of the API and the WebSocket.

With a token set (required whenever the server listens beyond loopback), every request
under /api/ and the WebSocket /ws must carry it, as `Authorization: Bearer TOKEN` or as
the query parameter `token=TOKEN` (what a download link and a browser WebSocket can
send). Missing: 401; wrong: 403; the body says which, never what the token is. The page
and its static assets hold no data and are served without it (the page takes the token
from its own address, ?token=..., and sends it on). Tokens compare in constant time.
"""
from __future__ import annotations

import hmac
import json
from typing import Optional
from urllib.parse import parse_qs

#: paths that need the token (prefixes)
GUARDED = ("/api/", "/api", "/ws")


def read_token_file(path: str) -> str:
    """The token in a file: its first line, stripped. Raises ValueError with a one-line
    reason (unreadable, empty, shorter than 16 characters)."""
    try:
        with open(path, encoding="utf-8") as fh:
            token = (fh.readline() or "").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the token file: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    check_token(token, path)
    return token


def check_token(token: str, where: str = "--token") -> None:
    if len(token) < 16:
        raise ValueError(f"{where}: a token needs at least 16 characters "
                         "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`)")


class TokenGuard:
    """ASGI middleware: requests to GUARDED paths need `token` (module docstring)."""

    def __init__(self, app, token: Optional[str]):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if (self.token is None or scope["type"] not in ("http", "websocket")
                or not scope["path"].startswith(GUARDED)):
            return await self.app(scope, receive, send)
        given = _given(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return await self.app(scope, receive, send)
        status, text = ((401, "a token is needed: Authorization: Bearer TOKEN or ?token=")
                        if given is None else (403, "wrong token"))
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4000 + status, "reason": text})
            return
        body = json.dumps({"error": text}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})


def _given(scope) -> Optional[str]:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[-1] if values else None
