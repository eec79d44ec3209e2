"""The ASGI application: the API routes, the page and its assets, the token guard, and
the task that follows the file for as long as the app runs (its lifespan).

    app = build_app("logs/")                    # then uvicorn.run(app) or TestClient(app)

The page's assets ship inside the package (serve/page/) and plotly.js comes from the
plotly package (plotly/package_data/plotly.min.js): nothing is fetched from elsewhere.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Optional

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wirescore.errors import WirescoreError
from wirescore.outputs.paths import SNIPPETS_DIR
from wirescore.serve import api
from wirescore.serve.auth import TokenGuard
from wirescore.serve.follow import EveFileSet
from wirescore.serve.index import EventIndex
from wirescore.serve.live import LiveFeed
from wirescore.serve.settings import DEFAULT_EVE, ServeSettings

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "page"


def plotly_js() -> Path:
    """plotly.min.js as the plotly package ships it; a WirescoreError naming the extra
    when plotly is not installed."""
    try:
        import plotly
    except ImportError:
        raise WirescoreError("the dashboard needs the serve extra: "
                             "pip install 'wirescore[serve]'") from None
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise WirescoreError(f"plotly {plotly.__version__}: no package_data/plotly.min.js")
    return path


def build_app(log_dir, eve_name: str = DEFAULT_EVE,
              settings: ServeSettings = ServeSettings(), token: Optional[str] = None):
    """The dashboard over LOG_DIR/EVE_NAME (the file need not exist yet: it is waited
    for). token: required on /api and /ws when set (wirescore.serve.auth). Returns an
    ASGI app; the file is followed while the app runs (from its lifespan start)."""
    log_dir = Path(log_dir)
    index = EventIndex(settings)
    feed = LiveFeed(EveFileSet(log_dir, eve_name, settings.read_bytes), index, settings)
    state = api.State(log_dir, eve_name, log_dir / SNIPPETS_DIR, index, feed, settings)
    plotly_path = plotly_js()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.ensure_future(feed.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def page(request):
        return FileResponse(PAGE / "index.html", headers={"cache-control": "no-cache"})

    async def plotly(request):
        return FileResponse(plotly_path, media_type="text/javascript",
                            headers={"cache-control": "max-age=86400"})

    routes = [Route("/", page, include_in_schema=False),
              Route("/static/plotly.min.js", plotly, include_in_schema=False),
              Mount("/static", StaticFiles(directory=PAGE), name="static"),
              *api.ROUTES]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _json_error, Exception: _internal})
    app.state.wirescore = state
    return TokenGuard(app, token)


async def _json_error(request, exc: HTTPException):
    return JSONResponse({"error": exc.detail if isinstance(exc.detail, str) else "error"},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _internal(request, exc: Exception):
    log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"error": "internal error (logged by the server)"}, status_code=500)
