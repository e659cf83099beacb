"""Process tuning shared by the long-running services (ingest's server, the workers)."""

from __future__ import annotations

import gc

__all__ = ["DEFAULT_GC_THRESHOLDS", "settle_heap"]

DEFAULT_GC_THRESHOLDS: tuple[int, int, int] = (50_000, 20, 100)
"""Young collections every 50,000 allocations instead of 700: a fleet's probes or a burst of
webhooks allocate many short-lived objects, and the default thresholds spend ~10 % of the CPU
walking them."""


def settle_heap(thresholds: tuple[int, int, int] = DEFAULT_GC_THRESHOLDS) -> None:
    """Freeze what start-up built, and collect less often from now on.

    Long-lived objects (the app, models, caches, the loaded modules) leave the collector's
    view, so later collections only walk what the work allocates.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
