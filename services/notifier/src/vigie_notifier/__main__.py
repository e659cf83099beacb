"""``python -m vigie_notifier``."""

from vigie_notifier.main import run

run()
