"""``python -m vigie_prober``."""

from vigie_prober.main import run

run()
