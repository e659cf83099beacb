"""One error for every name that is not a time zone, including a region such as ``Europe``."""

from __future__ import annotations

import pytest
from vigie_common.zones import UnknownZone, load_zone


def test_a_zone_is_loaded_by_its_iana_name() -> None:
    assert load_zone("Europe/Paris").key == "Europe/Paris"


@pytest.mark.parametrize("name", ["Europe", "Mars/Olympus", "../etc/passwd", "", "  ", "UTC+2"])
def test_anything_else_is_an_unknown_zone_naming_it(name: str) -> None:
    with pytest.raises(UnknownZone, match="unknown time zone") as caught:
        load_zone(name)
    assert caught.value.name == name
