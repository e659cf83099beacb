"""The lab as a whole: a fleet's start, keys across restarts, credentials, inventory, the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import asyncssh
import pytest
import yaml
from vigie_lab import (
    CredentialsMissing,
    Lab,
    LabScenarios,
    ListenFailed,
    fleet_scenarios,
    packaged_scenarios,
    packaged_text,
)
from vigie_lab.inventory import build_inventory
from vigie_prober.inventory_formats import read_inventory

from tests.lab import (
    ENV,
    RAD_LOG,
    connect_device,
    connect_jump,
    rad_records,
    running,
)

KNOWN_HOSTS_LINE = re.compile(r"^\[127\.0\.\d+\.\d+\]:\d+ ssh-ed25519 [A-Za-z0-9+/=]+$")
HUGE = 50_000_000


async def test_fleet_of_200_starts_fast_and_answers_through_the_jump_host(
    tmp_path: Path,
) -> None:
    scenarios = fleet_scenarios(200)
    started = time.perf_counter()
    async with running(tmp_path, scenarios, now=None) as lab:
        elapsed = time.perf_counter() - started
        names = list(lab.devices)
        async with connect_jump(lab) as jump:
            for name in (names[0], names[-1]):
                async with connect_device(lab, name, tunnel=jump) as conn:
                    result = await conn.run(RAD_LOG, timeout=5)
                    assert len(rad_records(str(result.stdout))) == 4
        known_hosts = lab.known_hosts.read_text().splitlines()

    assert elapsed < 10  # about 0.2 s here; 1,000 devices start in about 0.9 s
    assert len(known_hosts) == 201
    assert all(KNOWN_HOSTS_LINE.match(line) for line in known_hosts)
    assert len({(d.address, d.port) for d in lab.devices.values()}) == 200


async def test_host_keys_survive_a_restart_on_the_same_data_folder(tmp_path: Path) -> None:
    scenarios = fleet_scenarios(2, jump_host=False)
    async with running(tmp_path, scenarios) as first:
        keys = [d.host_key for d in first.devices.values()]
    async with running(tmp_path, scenarios) as again:
        assert [d.host_key for d in again.devices.values()] == keys
    async with running(tmp_path / "other", scenarios) as other:
        assert [d.host_key for d in other.devices.values()] != keys
    assert len(set(keys)) == 2
    assert (tmp_path / "lab" / "host-keys.seed").stat().st_mode & 0o777 == 0o600


async def test_missing_password_names_the_variable_never_a_value(tmp_path: Path) -> None:
    with pytest.raises(CredentialsMissing) as caught:
        async with Lab.start(fleet_scenarios(1), data_dir=tmp_path, env={}):
            pass

    assert caught.value.where == "device LAB-ETX-00001"
    assert "VIGIE_LAB_ROUTER_PASSWORD" in str(caught.value)


async def test_a_taken_port_names_the_device(tmp_path: Path) -> None:
    async with running(tmp_path, fleet_scenarios(1, jump_host=False)) as lab:
        taken = lab.devices["LAB-ETX-00001"]
        clash = fleet_scenarios(1, first_address=taken.address, port=taken.port, jump_host=False)
        with pytest.raises(ListenFailed) as caught:
            async with running(tmp_path / "second", clash):
                pass

    assert caught.value.where == "device LAB-ETX-00001"
    assert caught.value.port == taken.port


async def test_inventories_shipped_and_running_are_what_the_prober_imports(
    tmp_path: Path,
) -> None:
    seed = packaged_scenarios()
    shipped = yaml.safe_load(packaged_text("seed-inventory.yaml"))
    (tmp_path / "seed-inventory.yaml").write_text(packaged_text("seed-inventory.yaml"))

    assert build_inventory(seed.devices, seed.jump_host) == shipped
    assert len(read_inventory([tmp_path / "seed-inventory.yaml"]).devices) == 3
    async with running(tmp_path, seed.with_any_ports()) as lab:
        written = lab.write_inventory()
        device = lab.devices["RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"]
    imported = read_inventory([written])
    ports = {d.hostname: d.port for d in imported.devices}
    assert ports[device.name] == device.port
    assert [s.service_reference for s in imported.sites] == ["CD0HG0FDC", "CD0HG0FDC", "CD0HG0VRN"]


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)[1])  # type: ignore[index]


async def test_cli_runs_the_lab_and_streams_50_mb_in_bounded_memory(tmp_path: Path) -> None:
    huge = next(d for d in packaged_scenarios("catalogue.yaml").devices if d.name == "LAB-HUGE")
    scenarios = LabScenarios(devices=[huge])
    scenario_file = tmp_path / "huge.yaml"
    scenario_file.write_text(yaml.safe_dump(scenarios.model_dump(mode="json", exclude_none=True)))
    lab_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigie_lab", "run", "--scenarios", str(scenario_file),
        "--data-dir", str(tmp_path / "data"), "--any-ports",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )  # fmt: skip
    assert lab_process.stdout is not None
    try:
        async with asyncio.timeout(60):
            banner = ""
            while "ready" not in banner:
                line = await lab_process.stdout.readline()
                assert line, f"the lab stopped: {banner}"
                banner += line.decode()
            inventory = yaml.safe_load((tmp_path / "data" / "inventory.yaml").read_text())
            entry = inventory["sites"][0]["devices"][0]
            before = _peak_rss_kib(lab_process.pid)
            options = client_options_for(tmp_path / "data" / "known_hosts")
            async with asyncssh.connect(entry["address"], entry["port"], **options) as conn:
                process = await conn.create_process(RAD_LOG, encoding=None)
                first = await process.stdout.read(100)
                received = len(first)
                while chunk := await process.stdout.read(1 << 20):
                    received += len(chunk)
            grown_mib = (_peak_rss_kib(lab_process.pid) - before) / 1024
            lab_process.send_signal(signal.SIGTERM)
            rest = (await lab_process.stdout.read()).decode()
            status = await lab_process.wait()
    finally:
        if lab_process.returncode is None:
            lab_process.kill()
            await lab_process.wait()

    assert (
        "LAB-HUGE" in banner and "huge_output" in banner and "$VIGIE_LAB_ROUTER_PASSWORD" in banner
    )
    assert ENV["VIGIE_LAB_ROUTER_PASSWORD"] not in banner
    assert first.startswith(b"1      Remote defect indication (RDI)\r\n")
    assert received == HUGE
    assert grown_mib < 16, f"the lab grew by {grown_mib:.1f} MiB streaming {HUGE} bytes"
    assert status == 0 and "vigie lab stopped" in rest


def client_options_for(known_hosts: Path) -> dict[str, object]:
    return {
        "known_hosts": str(known_hosts),
        "client_keys": None,
        "agent_path": None,
        "config": None,
        "username": "vigie",
        "password": ENV["VIGIE_LAB_ROUTER_PASSWORD"],
        "connect_timeout": 5,
    }
