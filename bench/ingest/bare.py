"""The bare baseline: the cheapest FastAPI endpoint that still parses a webhook's JSON.

Ingest's throughput is reported as a ratio to this endpoint, served with exactly the same
uvicorn settings, so the figure says how much of the server's capacity ingest's own work
(signature, validation, database, outbox) costs, independently of the machine's speed.

Run it alone with ``uv run python -m bench.ingest.bare --port 8001``.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from bench.ingest.webhooks import PATH

# Same app settings as ingest: FastAPI's native OpenTelemetry off on both sides.
app = FastAPI(
    title="vigie bench: bare endpoint",
    docs_url=None,
    redoc_url=None,
    telemetry={"tracing": False, "metrics": False, "logs": False},
)


@app.post(PATH, status_code=202)
async def receive(ticket: dict[str, Any]) -> dict[str, str]:
    """Parse the JSON body (FastAPI does it) and acknowledge like ingest does."""
    return {"status": "accepted", "numero": str(ticket.get("numero", ""))}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    """Answer 200 once the server listens, so the harness knows when to start."""
    return {"status": "ready"}


def serve(port: int) -> None:
    """Run the app with the server settings ingest uses."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


def main(argv: list[str] | None = None) -> None:
    """Parse ``--port`` and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
