"""Inventory CSV files (devices, jump hosts): every bad cell refused naming its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from vigie_prober.inventory import InventoryInvalid, SiteEntry
from vigie_prober.inventory_formats import read_inventory


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are named as the user typed them: relative names here."""
    monkeypatch.chdir(tmp_path)


def refusal(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "inv.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InventoryInvalid) as caught:
        read_inventory([Path("inv.csv")])
    return [str(problem) for problem in caught.value.problems]


HEADER = (
    "site_code,service_reference,hostname,address,port,driver,credentials,jump_host,timezone,"
    "known_hosts\n"
)
ROWS = "".join(
    f"S{i},SVC{i},r{i},127.0.10.{i},22,rad_etx,lab-cpe,,Europe/Paris,\n" for i in range(1, 6)
)  # lines 2 to 6


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "S7,,r7,127.0.10.7,22,juniper,lab-cpe,,,",
            "inv.csv line 7, column driver: unknown driver 'juniper' (known: cisco_ios, rad_etx)",
        ),
        (
            "S7,,r7,localhost..,22,rad_etx,lab-cpe,,,",
            "inv.csv line 7, column address: 'localhost..' is not an IP address or a host name",
        ),
        (
            "S7,,r1,127.0.10.7,22,rad_etx,lab-cpe,,,",
            "inv.csv line 7, column hostname: duplicate hostname 'r1' (first at line 2)",
        ),
        (
            "S7,,r7,127.0.10.7,22,rad_etx,lab-cpe,rebond,,",
            "inv.csv line 7, column jump_host: jump host 'rebond' is not defined "
            "(none is: give a YAML file or a jump-host CSV too)",
        ),
        (
            "S7,,r7,127.0.10.7,0,rad_etx,lab-cpe,,,",
            "inv.csv line 7, column port: port must be a whole number from 1 to 65535, got '0'",
        ),
        (
            "S7,,r7,127.0.10.7,22,rad_etx,,,,",
            "inv.csv line 7, column credentials: required field missing",
        ),
        (
            ",,r7,127.0.10.7,22,rad_etx,lab-cpe,,,",
            "inv.csv line 7, column site_code: required field missing",
        ),
        (
            "S1,OTHER,r7,127.0.10.7,22,rad_etx,lab-cpe,,,",
            "inv.csv line 7, column service_reference: site 'S1' already has service_reference "
            "'SVC1' (at line 2)",
        ),
        (
            "S7,,r7,127.0.10.7,22,rad_etx,lab-cpe,,,,x",
            "inv.csv line 7: 11 values for 10 columns (a comma inside a value?)",
        ),
    ],
)
def test_bad_csv_is_refused_naming_line_and_column(tmp_path: Path, row: str, expected: str) -> None:
    assert refusal(tmp_path, HEADER + ROWS + row + "\n") == [expected]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "name,address,credentials,password",
            "inv.csv line 1, column password: secrets do not belong",
        ),
        (
            "site_code,hostname,address,driver,credentials,colour",
            "inv.csv line 1, column colour: unknown column",
        ),
        ("site_code,hostname,address,driver", "inv.csv line 1, column credentials: column missing"),
        (
            "site_code,hostname,hostname,address,driver,credentials",
            "inv.csv line 1, column hostname: duplicate column",
        ),
        ("a,b,c", "inv.csv line 1: cannot tell the kind of CSV file"),
    ],
)
def test_bad_csv_header_is_refused(tmp_path: Path, header: str, expected: str) -> None:
    problems = refusal(tmp_path, header + "\n")
    assert any(p.startswith(expected) for p in problems), problems


def test_csv_rows_of_one_site_make_one_site_and_semicolons_and_bom_are_read(tmp_path: Path) -> None:
    text = (
        "\ufeffsite_code;hostname;address;driver;credentials;service_reference\n"
        "\n"
        "A;r1;10.0.0.1;rad_etx;p;\n"
        "A;r2;10.0.0.2;cisco_ios;p;SVC\n"
    )
    (tmp_path / "inv.csv").write_text(text, encoding="utf-8")
    inventory = read_inventory([Path("inv.csv")])
    assert inventory.sites == (SiteEntry("A", "SVC"),)
    assert [(d.hostname, d.site, d.port) for d in inventory.devices] == [
        ("r1", "A", 22),
        ("r2", "A", 22),
    ]


def test_a_site_given_by_two_files_is_refused_naming_the_other_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + ROWS)
    (tmp_path / "b.csv").write_text(HEADER + "S1,,r9,127.0.10.9,22,rad_etx,p,,,\n")
    with pytest.raises(InventoryInvalid) as caught:
        read_inventory([Path("a.csv"), Path("b.csv")])
    assert [str(p) for p in caught.value.problems] == [
        "b.csv line 2, column site_code: duplicate site code 'S1' (first at a.csv line 2)"
    ]
