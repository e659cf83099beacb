"""``python -m vigie_devstack``."""

from vigie_devstack.main import run

run()
