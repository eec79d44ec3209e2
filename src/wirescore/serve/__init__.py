"""`wirescore serve`: a live dashboard over a log directory's eve.json.

The server follows the file (follow.py), keeps a bounded index of what it read
(index.py), answers a REST API and a WebSocket (api.py, live.py) and serves one page
(page/, charts by plotly.js from the plotly package). It reads the file only: it never
sits in the capture path, so a slow or dead browser cannot slow a run.
Needs the `serve` extra: pip install 'wirescore[serve]'.
"""
