"""Scenario files: the shipped ones load, bad ones are refused naming the device and field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from vigie_lab import ScenarioInvalid, load_scenarios, packaged_scenarios
from vigie_lab.kinds import KINDS
from vigie_lab.main import main
from vigie_lab.scenario_file import parse_scenarios
from vigie_lab.times import parse_duration, parse_relative

PARIS = ZoneInfo("Europe/Paris")


def _device(**fields: object) -> dict[str, object]:
    device: dict[str, object] = {
        "name": "R1",
        "driver": "rad_etx",
        "address": "127.0.10.1",
        "port": 2222,
        "username": "vigie",
        "password_env": "VIGIE_LAB_ROUTER_PASSWORD",
        "scenario": {"kind": "stable", "since": "-3d@16:10:44"},
    }
    device.update(fields)
    return device


def _problems(data: object) -> set[tuple[str, str]]:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenarios(data)
    return {(problem.where, problem.field) for problem in caught.value.problems}


def test_shipped_files_are_valid_and_cover_every_kind() -> None:
    seed = packaged_scenarios("seed.yaml")
    catalogue = packaged_scenarios("catalogue.yaml")

    assert [d.site for d in seed.devices] == [
        "INL_MOIRA_EVPN_LA1",
        "INU_CONF5_EVPN_LA1",
        "INL_VOIRO_EVPN_LA1",
    ]
    assert [d.scenario.kind for d in seed.devices] == ["stable", "stable", "flapping"]
    assert {d.scenario.kind for d in catalogue.devices} == set(KINDS)
    assert seed.jump_host is not None and seed.jump_host.name == "rebond"


def test_errors_name_the_device_and_the_field() -> None:
    data = {
        "devices": [
            _device(name="BAD-SINCE", scenario={"kind": "stable", "since": "3 days ago"}),
            _device(name="BAD-ADDRESS", address="10.0.0.1", port=2223),
            _device(name="PASSWORD-IN-FILE", password="hunter2", port=2224),
            _device(name="TWO-SOURCES", password_file="pw.txt", port=2225),
            _device(name="BAD-KIND", scenario={"kind": "exploding"}, port=2226),
            _device(name="SHORT", scenario={"kind": "flapping", "cycles": 3, "spacing": "5s"}),
            _device(name="EXTRA", colour="red", port=2227),
            _device(name="REGION", timezone="Europe", port=2228),
            {"driver": "juniper"},
        ]
    }

    found = _problems(data)

    assert ("device BAD-SINCE", "scenario.since") in found
    assert ("device BAD-ADDRESS", "address") in found
    assert ("device PASSWORD-IN-FILE", "password") in found
    assert ("device TWO-SOURCES", "") in found
    assert ("device BAD-KIND", "scenario") in found
    assert ("device SHORT", "scenario") in found
    assert ("device EXTRA", "colour") in found
    assert ("device REGION", "timezone") in found
    assert {("devices[8]", "name"), ("devices[8]", "driver")} <= found


def test_password_in_the_file_is_refused_without_echoing_it() -> None:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenarios({"devices": [_device(password="hunter2")]})

    assert "hunter2" not in str(caught.value)
    assert "password_env" in str(caught.value)


def test_duplicate_names_and_listening_places_are_refused() -> None:
    data = {
        "jump_host": {"address": "127.0.10.1", "port": 2222, "username": "t", "password_env": "J"},
        "devices": [_device(), _device(name="R1", address="127.0.10.2", port=0)],
    }

    assert _problems(data) == {("device R1", "name"), ("device R1", "port")}


def test_password_file_is_relative_to_the_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    device = _device(password_file="secrets/router", password_env=None, scenario="no_ssh")
    path.write_text(yaml.safe_dump({"devices": [device]}))

    scenarios = load_scenarios(path)

    assert scenarios.devices[0].password_file == tmp_path / "secrets" / "router"
    assert scenarios.devices[0].scenario.kind == "no_ssh"


def test_relative_times_count_from_the_start_in_the_device_zone() -> None:
    start = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)  # 11:00 in Paris

    pinned = parse_relative("-3d@16:10:44").resolve(start, PARIS)

    assert pinned == datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS)
    assert parse_relative("-90m").resolve(start, PARIS) == start - timedelta(minutes=90)
    assert parse_relative("now").resolve(start, PARIS) == start
    assert parse_relative("-1d@08:00").at == time(8, 0)
    with pytest.raises(ValueError, match="after the lab's start"):
        parse_relative("-0d@23:00").resolve(start, PARIS)
    for wrong in ("3d", "+3d", "-3x", "-", "-3d@25:00", "yesterday"):
        with pytest.raises(ValueError, match=r"expected|no such time"):
            parse_relative(wrong)


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(90) == timedelta(seconds=90)
    for wrong in ("", "ten minutes", -5, "5 m"):
        with pytest.raises(ValueError, match="expected"):
            parse_duration(wrong)


def test_check_command_lists_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({"devices": [_device()]}))
    bad.write_text(yaml.safe_dump({"devices": [_device(scenario={"kind": "stable"})]}))

    assert main(["check", str(good)]) == 0
    assert main(["check", str(good), str(bad)]) == 1

    out = capsys.readouterr().out
    assert f"{good}: ok, 1 devices" in out
    assert "device R1: scenario.since: Field required" in out
