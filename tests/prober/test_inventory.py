"""Inventory files: YAML (and CSV) read alike, every bad value refused naming its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from vigie_prober.inventory import (
    DEFAULT_TIMEZONE,
    DeviceEntry,
    Inventory,
    InventoryInvalid,
    InventoryUnreadable,
    JumpHostEntry,
    SiteEntry,
)
from vigie_prober.inventory_formats import read_inventory

DATA = Path(__file__).parent / "data" / "inventory"
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

# Line numbers matter below: each case replaces or adds numbered lines of this file.
YAML = """\
jump_hosts:
  - name: rebond
    address: 127.0.10.254
    credentials: lab-rebond
sites:
  - code: SITE_A
    service_reference: SVC1
    devices:
      - hostname: r1
        address: 127.0.10.1
        driver: rad_etx
        credentials: lab-cpe
        jump_host: rebond
"""
SECOND_SITE = """\
  - code: {code}
    devices:
      - hostname: {hostname}
        address: {address}
        driver: cisco_ios
        credentials: lab-cpe
"""  # lines 14 to 19 once appended


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are named as the user typed them: relative names here."""
    monkeypatch.chdir(tmp_path)


def yaml_with(replace: dict[int, str] | None = None, *, extra: str = "") -> str:
    lines = YAML.splitlines()
    for number, line in (replace or {}).items():
        lines[number - 1] = line
    return "\n".join(lines) + "\n" + extra


def refusal(tmp_path: Path, text: str, name: str = "inv.yaml") -> list[str]:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InventoryInvalid) as caught:
        read_inventory([Path(name)])
    return [str(problem) for problem in caught.value.problems]


def read_text(tmp_path: Path, text: str, name: str) -> Inventory:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return read_inventory([Path(name)])


def test_lab_inventory_reads_the_same_from_yaml_and_from_csv() -> None:
    from_yaml = read_inventory([DATA / "lab.yaml"])
    from_csv = read_inventory([DATA / "devices.csv", DATA / "jump_hosts.csv"])
    assert from_yaml == from_csv
    assert [s.code for s in from_yaml.sites] == [
        "INL_MOIRA_EVPN_LA1",
        "INU_CONF5_EVPN_LA1",
        "INL_FLAP_EVPN_LA1",
        "INU_CISCO_LA1",
    ]
    assert from_yaml.jump_hosts == (
        JumpHostEntry("rebond", "127.0.10.254", 2222, "lab-rebond", None),
    )
    moirans = from_yaml.devices[0]
    assert (moirans.site, moirans.driver, moirans.jump_host) == (
        "INL_MOIRA_EVPN_LA1",
        "rad_etx",
        "rebond",
    )
    assert {d.address for d in from_yaml.devices} == {f"127.0.10.{i}" for i in range(1, 5)}


def test_yaml_defaults_are_port_22_paris_and_no_jump_host(tmp_path: Path) -> None:
    text = (
        "sites:\n  - code: S\n    devices:\n"
        "      - {hostname: r, address: R1.Example.NET., driver: cisco_ios, credentials: p}\n"
    )
    inventory = read_text(tmp_path, text, "inv.yml")
    assert inventory == Inventory(
        jump_hosts=(),
        sites=(SiteEntry("S", None),),
        devices=(
            DeviceEntry(
                "r", "S", "r1.example.net", 22, "cisco_ios", "p", None, DEFAULT_TIMEZONE, None, None
            ),
        ),
    )


def test_yaml_values_are_taken_as_written_not_as_yaml_types(tmp_path: Path) -> None:
    replace = {
        6: "  - code: 0123",
        7: "    service_reference: no",
        10: "        address: '::FFFF:7f00:1'",
    }
    inventory = read_text(tmp_path, yaml_with(replace), "inv.yaml")
    assert inventory.sites == (SiteEntry("0123", "no"),)
    assert inventory.devices[0].address == "::ffff:7f00:1"


def test_host_key_is_kept_without_its_comment(tmp_path: Path) -> None:
    inventory = read_text(
        tmp_path, yaml_with(extra=f"        host_key: {ED25519} me@lab\n"), "i.yaml"
    )
    assert inventory.devices[0].host_key == ED25519


@pytest.mark.parametrize(
    ("replace", "extra", "expected"),
    [
        pytest.param(
            {11: "        driver: juniper"},
            "",
            "inv.yaml line 11: sites[0].devices[0].driver: unknown driver 'juniper' "
            "(known: cisco_ios, rad_etx)",
            id="unknown-driver",
        ),
        pytest.param(
            {10: "        address: 999.1.1.1"},
            "",
            "inv.yaml line 10: sites[0].devices[0].address: '999.1.1.1' is not an IP address "
            "or a host name",
            id="bad-address",
        ),
        pytest.param(
            {10: "        address: bad_host!"},
            "",
            "inv.yaml line 10: sites[0].devices[0].address: 'bad_host!' is not an IP address "
            "or a host name",
            id="bad-hostname-address",
        ),
        pytest.param(
            {13: "        jump_host: rebond2"},
            "",
            "inv.yaml line 13: sites[0].devices[0].jump_host: jump host 'rebond2' is not defined "
            "(defined: rebond)",
            id="undefined-jump-host",
        ),
        pytest.param(
            {},
            "        colour: blue\n",
            "inv.yaml line 14: sites[0].devices[0].colour: unknown key (known: address, "
            "credentials, driver, host_key, hostname, jump_host, known_hosts, port, timezone)",
            id="unknown-key",
        ),
        pytest.param(
            {},
            "        port: 70000\n",
            "inv.yaml line 14: sites[0].devices[0].port: port must be a whole number from 1 to "
            "65535, got '70000'",
            id="bad-port",
        ),
        pytest.param(
            {},
            "        timezone: Mars/Olympus\n",
            "inv.yaml line 14: sites[0].devices[0].timezone: unknown time zone 'Mars/Olympus' "
            "(an IANA name, e.g. Europe/Paris)",
            id="bad-timezone",
        ),
        pytest.param(
            {},
            "        timezone: Europe\n",
            "inv.yaml line 14: sites[0].devices[0].timezone: unknown time zone 'Europe' "
            "(an IANA name, e.g. Europe/Paris)",
            id="a-region-not-a-zone",
        ),
        pytest.param(
            {},
            "        host_key: ssh-ed25519 bm90IGEga2V5\n",
            "inv.yaml line 14: sites[0].devices[0].host_key: not an OpenSSH public key "
            "('<type> <base64>', e.g. ssh-ed25519 AAAA...)",
            id="bad-host-key",
        ),
        pytest.param(
            {12: "        driver: rad_etx"},
            "",
            "inv.yaml line 9: sites[0].devices[0].credentials: required field missing",
            id="missing-field",
        ),
        pytest.param(
            {11: "        driver: [rad_etx]"},
            "",
            "inv.yaml line 11: sites[0].devices[0].driver: expected a single value, got a list",
            id="not-a-value",
        ),
        pytest.param(
            {},
            SECOND_SITE.format(code="SITE_A", hostname="r2", address="127.0.10.2"),
            "inv.yaml line 14: sites[1].code: duplicate site code 'SITE_A' (first at line 6)",
            id="duplicate-site",
        ),
        pytest.param(
            {},
            SECOND_SITE.format(code="SITE_B", hostname="r1", address="127.0.10.2"),
            "inv.yaml line 16: sites[1].devices[0].hostname: duplicate hostname 'r1' "
            "(first at line 9)",
            id="duplicate-hostname",
        ),
        pytest.param(
            {13: "        jump_host: null"},
            SECOND_SITE.format(code="SITE_B", hostname="r2", address="127.0.10.1"),
            "inv.yaml line 17: sites[1].devices[0].address: same address and port as device 'r1' "
            "(at line 10)",
            id="same-address-and-port",
        ),
        pytest.param(
            {7: "    service_reference: [SVC1"},
            "",
            "inv.yaml line 8: not valid YAML: did not find expected ',' or ']'",
            id="syntax",
        ),
    ],
)
def test_bad_yaml_is_refused_naming_line_and_field(
    tmp_path: Path, replace: dict[int, str], extra: str, expected: str
) -> None:
    assert expected in refusal(tmp_path, yaml_with(replace, extra=extra))


@pytest.mark.parametrize(
    ("line", "field"),
    [(4, "    password: hunter2"), (13, "        password: hunter2")],
    ids=["jump-host", "device"],
)
def test_a_password_key_is_refused_without_echoing_it(
    tmp_path: Path, line: int, field: str
) -> None:
    problems = refusal(tmp_path, yaml_with({line: field}))
    path = "jump_hosts[0]" if line == 4 else "sites[0].devices[0]"
    assert (
        f"inv.yaml line {line}: {path}.password: secrets do not belong in the inventory: name "
        "a credentials profile in 'credentials' (its secrets come from the environment or a file)"
    ) in problems
    assert not any("hunter2" in p for p in problems)


def test_a_secret_pasted_as_a_credentials_profile_is_not_echoed(tmp_path: Path) -> None:
    problems = refusal(tmp_path, yaml_with({12: "        credentials: 'S3cr3t! pw'"}))
    assert problems == [
        "inv.yaml line 12: sites[0].devices[0].credentials: must name a credentials profile "
        "(letters, digits, '_', '.', '-'; at most 100); its secrets come from the environment "
        "or a file, never from the inventory"
    ]


def test_every_problem_of_a_file_is_listed_in_line_order(tmp_path: Path) -> None:
    replace = {
        3: "    address: 300.1.1.1",
        11: "        driver: juniper",
        13: "        jump_host: x",
    }
    problems = refusal(tmp_path, yaml_with(replace))
    assert [p.split(":")[0] for p in problems] == [
        "inv.yaml line 3",
        "inv.yaml line 11",
        "inv.yaml line 13",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "inv.yaml line 1: empty file: expected 'jump_hosts' and 'sites'"),
        ("- a\n- b\n", "inv.yaml line 1: expected a mapping of jump_hosts, sites"),
        ("jump_hosts: []\n", "inv.yaml line 1: sites: required field missing"),
        ("sites: {}\n", "inv.yaml line 1: sites: expected a list"),
        ("sites: []\nsites: []\n", "inv.yaml line 2: sites: duplicate key (first at line 1)"),
        (
            "jump_hosts:\n  - {name: j, address: h1, credentials: p}\n"
            "  - {name: j, address: h2, credentials: p}\nsites: []\n",
            "inv.yaml line 3: jump_hosts[1].name: duplicate jump host 'j' (first at line 2)",
        ),
        (
            "sites:\n  - code: A\n    devices: []\n",
            "inv.yaml line 3: sites[0].devices: a site needs at least one device",
        ),
        (
            "sites:\n  - code: A\n",
            "inv.yaml line 2: sites[0].devices: a site needs at least one device",
        ),
        (
            "sites:\n  - &s {code: A, devices: [{hostname: r, address: h, driver: rad_etx, "
            "credentials: p}]}\n  - *s\n",
            "inv.yaml line 2: sites[1]: aliases (*name) are not supported: write the value out",
        ),
    ],
)
def test_badly_shaped_yaml_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refusal(tmp_path, text)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.yaml", None, "No such file or directory"),
        ("folder.yaml", "dir", "Is a directory"),
        ("inv.txt", "sites: []", "unknown format: name the file .yaml, .yml or .csv"),
        ("latin1.csv", b"site_code\n\xe9\n", "not UTF-8 text (byte 10)"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InventoryUnreadable) as caught:
        read_inventory([path])
    assert str(caught.value) == f"cannot read {path}: {reason}"
