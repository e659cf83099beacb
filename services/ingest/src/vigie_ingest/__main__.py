"""``python -m vigie_ingest``."""

from vigie_ingest.main import run

run()
