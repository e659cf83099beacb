"""Ingest's own settings refuse what would fail later, naming it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from vigie_ingest.settings import IngestSettings


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe"])
@pytest.mark.parametrize("field", ["DEFAULT_TIMEZONE", "SERVICENOW_TIMEZONE"])
def test_a_zone_that_is_not_one_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, field: str, name: str
) -> None:
    monkeypatch.setenv(f"VIGIE_INGEST_{field}", name)

    with pytest.raises(ValidationError, match=f"unknown time zone '{name}'"):
        IngestSettings(env="test")
