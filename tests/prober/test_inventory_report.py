"""The diff of two inventories and the import report, for people and for programs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vigie_prober.inventory import Inventory, SiteEntry
from vigie_prober.inventory_formats import read_inventory
from vigie_prober.inventory_report import Change, FieldChange, ImportReport, diff_inventories

LAB = Path(__file__).parent / "data" / "inventory" / "lab.yaml"


def test_diff_names_added_changed_fields_and_removed_entries() -> None:
    lab = read_inventory([LAB])
    moved = replace(lab.devices[0], port=2022, jump_host=None)
    wanted = Inventory(lab.jump_hosts, (*lab.sites[:1], SiteEntry("NEW", None)), (moved,))
    diff = diff_inventories(lab, wanted)
    assert diff.added == (Change("site", "NEW"),)
    assert diff.changed == (
        Change(
            "device",
            "ETX203AM.INL_MOIRA",
            (FieldChange("port", 2222, 2022), FieldChange("jump_host", "rebond", None)),
        ),
    )
    assert [c.key for c in diff.removed] == [
        "INL_FLAP_EVPN_LA1",
        "INU_CISCO_LA1",
        "INU_CONF5_EVPN_LA1",
        "ETX203AM.INL_FLAP",
        "ETX203AM.INU_CONF5",
        "lab-c1111",
    ]
    assert diff_inventories(
        lab, Inventory(lab.jump_hosts[::-1], lab.sites[::-1], lab.devices[::-1])
    ).empty


def test_report_lines_and_json_say_the_same() -> None:
    lab = read_inventory([LAB])
    changed = Inventory(lab.jump_hosts, lab.sites, (replace(lab.devices[0], port=2022),))
    report = ImportReport(("lab.yaml",), diff_inventories(lab, changed), changed, dry_run=True)
    lines = report.lines()
    assert lines[0] == "lab.yaml: 1 jump host, 4 sites, 1 device"
    assert "changed  device ETX203AM.INL_MOIRA: port 2222 -> 2022" in lines
    assert "removed  device lab-c1111" in lines
    assert lines[-1] == "dry run, nothing written: 0 added, 1 changed, 3 removed"
    data = report.as_json()
    assert data["changed"] == [
        {
            "kind": "device",
            "key": "ETX203AM.INL_MOIRA",
            "fields": {"port": {"old": 2222, "new": 2022}},
        }
    ]
    assert (data["dry_run"], data["written"], len(data["removed"])) == (True, False, 3)
