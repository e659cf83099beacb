"""The heap settles after start-up: frozen objects, collection thresholds raised."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from vigie_common.runtime import DEFAULT_GC_THRESHOLDS, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_freezes_start_up_and_raises_the_thresholds() -> None:
    frozen_before = gc.get_freeze_count()

    settle_heap()

    assert gc.get_threshold() == DEFAULT_GC_THRESHOLDS
    assert gc.get_freeze_count() > frozen_before
