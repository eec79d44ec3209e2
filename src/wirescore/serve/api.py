"""The REST API and the WebSocket, as Starlette routes over the app's State.

Every answer is JSON (a snippet: application/vnd.tcpdump.pcap); errors are
{"error": "<one line>"} with a 4xx status that says what was wrong with the request,
never a path of the server's disk or a traceback. The OpenAPI document is built from
the docstrings below (GET /api/openapi.json).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.schemas import SchemaGenerator
from starlette.websockets import WebSocket, WebSocketDisconnect

from wirescore import __version__
from wirescore.serve.index import EventIndex
from wirescore.serve.live import LiveFeed
from wirescore.serve.query import AlertQuery, QueryError
from wirescore.serve.settings import ServeSettings

log = logging.getLogger(__name__)

PCAP_SUFFIXES = (".pcap", ".pcapng")


@dataclass
class State:
    """What the routes share: set on app.state.wirescore by app.build_app()."""

    log_dir: Path
    eve_name: str
    snippets: Path
    index: EventIndex
    feed: LiveFeed
    settings: ServeSettings


def _state(request) -> State:
    return request.app.state.wirescore


def _fail(status: int, text: str):
    raise HTTPException(status_code=status, detail=text)


def _alert_id(request: Request) -> int:
    text = request.path_params["alert_id"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        _fail(400, "alert id: not a whole number")
    state = _state(request)
    alert_id = int(text)
    if state.index.alert(alert_id) is None:
        if 0 < alert_id < state.index.next_id:
            _fail(404, f"alert {alert_id} is no longer indexed (the index holds the newest "
                       f"{state.settings.max_alerts})")
        _fail(404, f"no alert {alert_id}")
    return alert_id


async def status(request: Request):
    """
    summary: What the server follows and how much it has read
    responses:
      200: {description: "counts of events read, alerts indexed and evicted, the index bounds"}
    """
    s = _state(request)
    return JSONResponse({**s.index.status(), "version": __version__, "eve": s.eve_name,
                         "lines_read": s.feed.lines_read, "last_read": s.feed.last_read,
                         "rotations": s.feed.follower.rotations,
                         "truncations": s.feed.follower.truncations,
                         "files": getattr(s.feed.follower, "files", [s.eve_name]),
                         "clients": len(s.feed.clients)})


async def stats(request: Request):
    """
    summary: The engine's health from its stats events, and alerts by signature
    responses:
      200: {description: "latest decode errors and drops, packets/s points, signature counts"}
    """
    s = _state(request)
    return JSONResponse({"latest": s.index.last_stats, "points": list(s.index.stats_points),
                         "signatures": s.index.signature_counts()})


async def alerts(request: Request):
    """
    summary: Indexed alerts, newest first, filtered and paged
    parameters:
      - {name: severity, in: query, schema: {type: string}, description: "e.g. 1,2"}
      - {name: signature, in: query, schema: {type: string}, description: "id or text"}
      - {name: address, in: query, schema: {type: string}, description: "source or destination IP"}
      - {name: since, in: query, schema: {type: string}, description: "alert id (newer than) or timestamp"}
      - {name: before, in: query, schema: {type: integer}, description: "alert id (older than): next page"}
      - {name: limit, in: query, schema: {type: integer}}
    responses:
      200: {description: "{alerts: [...], next_before, newest_id}"}
      400: {description: "a bad filter, named"}
    """
    s = _state(request)
    try:
        query = AlertQuery.parse(dict(request.query_params), s.settings)
    except QueryError as exc:
        _fail(400, str(exc))
    return JSONResponse(query.run(s.index))


async def alert(request: Request):
    """
    summary: One alert with its EVE event, its flow event and its explanation
    parameters:
      - {name: alert_id, in: path, required: true, schema: {type: integer}}
    responses:
      200: {description: "summary, event, flow (null until read), explanation"}
      400: {description: "not an id"}
      404: {description: "unknown or no longer indexed"}
    """
    s = _state(request)
    return JSONResponse(s.index.alert(_alert_id(request)).detail())


async def alert_pcap(request: Request):
    """
    summary: The alert's PCAP snippet, as a download
    parameters:
      - {name: alert_id, in: path, required: true, schema: {type: integer}}
    responses:
      200: {description: "the pcap file", content: {application/vnd.tcpdump.pcap: {}}}
      404: {description: "no such alert, or it names no snippet inside LOGDIR/pcaps"}
      410: {description: "the snippet was deleted (snippet disk bounds)"}
    """
    s = _state(request)
    a = s.index.alert(_alert_id(request))
    path = snippet_path(s.snippets, a.capture_file)
    if path is None:
        _fail(404, f"alert {a.id} has no pcap snippet in the log directory's pcaps/")
    if not path.is_file():
        _fail(410, f"alert {a.id}: its snippet is gone (deleted to keep the snippet bounds)")
    return FileResponse(path, media_type="application/vnd.tcpdump.pcap",
                        filename=f"alert-{a.id}-{path.name}")


def snippet_path(snippets: Path, capture_file) -> "Path | None":
    """The snippet an alert's capture_file names, when it is a file name with a pcap
    suffix directly inside `snippets` once every symlink and '..' is resolved; else None
    (an absolute path, a way out of the folder, another file type: all refused)."""
    if not isinstance(capture_file, str) or not capture_file or "\0" in capture_file:
        return None
    rel = Path(capture_file)
    if rel.is_absolute() or not rel.name.endswith(PCAP_SUFFIXES):
        return None
    base = snippets.resolve()
    candidate = (snippets.parent / rel)
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError):
        return None
    if real.parent != base or os.path.basename(real) != rel.name:
        return None
    return real


async def top(request: Request):
    """
    summary: Top sources and destinations by alerts
    parameters:
      - {name: n, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
    responses:
      200: {description: "{sources: [{address, alerts}], destinations: [...]}"}
      400: {description: "bad n"}
    """
    text = request.query_params.get("n", "10")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        _fail(400, "n: not a whole number from 1 to 100")
    return JSONResponse(_state(request).index.top(int(text)))


async def series(request: Request):
    """
    summary: Chart data - flows/s, alerts per minute by severity, packets/s from stats
    responses:
      200: {description: "times in epoch seconds (event time)"}
    """
    return JSONResponse(_state(request).index.series())


async def openapi(request: Request):
    """
    summary: This document
    responses:
      200: {description: OpenAPI 3 document}
    """
    return JSONResponse(SCHEMAS.get_schema(routes=request.app.routes))


async def live(websocket: WebSocket):
    """The live feed (wirescore.serve.live: the messages)."""
    s = _state(websocket)
    await websocket.accept()
    client = s.feed.connect()
    try:
        await websocket.send_json({"type": "hello", "status": s.index.status()})
        reader = asyncio.ensure_future(_read_filters(websocket, client))
        try:
            while not reader.done():
                getter = asyncio.ensure_future(client.queue.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await websocket.send_json(getter.result())
        finally:
            reader.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        s.feed.disconnect(client)


async def _read_filters(websocket: WebSocket, client) -> None:
    """Apply the filters a client sends, until it goes (then return)."""
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        try:
            message = json.loads(text)
            client.set_filter(message.get("filter") if isinstance(message, dict) else None)
        except (ValueError, QueryError) as exc:
            error = str(exc) if isinstance(exc, QueryError) else "not a JSON message"
            client.send({"type": "error", "error": error})


SCHEMAS = SchemaGenerator({"openapi": "3.0.0",
                           "info": {"title": "wirescore serve", "version": __version__}})

ROUTES = [
    Route("/api/status", status),
    Route("/api/stats", stats),
    Route("/api/alerts", alerts),
    Route("/api/alerts/{alert_id}", alert),
    Route("/api/alerts/{alert_id}/pcap", alert_pcap),
    Route("/api/top", top),
    Route("/api/series", series),
    Route("/api/openapi.json", openapi, include_in_schema=False),
    WebSocketRoute("/ws", live),
]
