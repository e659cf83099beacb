"""Ingest's own settings refuse what would fail later, naming it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from vigie_ingest.settings import IngestSettings


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe"])
@pytest.mark.parametrize("field", ["default_timezone", "servicenow_timezone"])
def test_a_zone_that_is_not_one_is_refused_at_start_up(field: str, name: str) -> None:
    with pytest.raises(ValidationError, match=f"unknown time zone '{name}'"):
        IngestSettings(env="test", **{field: name})
