"""`vigie up` and `vigie sample` without starting anything: files, environment, flags, summary."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from vigie_devstack import datadir, main, sample, services
from vigie_devstack.stack import Stack
from vigie_ingest.sources.oceane import EXAMPLE as OCEANE_EXAMPLE
from vigie_ingest.sources.oceane import OceanePayload

DESIGN_SAMPLE = OCEANE_EXAMPLE
"""design.md §1 verbatim (tests/ingest/test_sources_oceane.py pins ingest's example to it)."""


def _ports() -> services.Ports:
    return services.Ports(ingest=18000, prober=19101, notifier=19102)


def test_devstack_imports_no_service_package() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import vigie_devstack
        for mod in pkgutil.walk_packages(vigie_devstack.__path__, "vigie_devstack."):
            if not mod.name.endswith("__main__"):
                importlib.import_module(mod.name)
        services = ("vigie_ingest", "vigie_prober", "vigie_notifier")
        print(sorted(m for m in sys.modules if m.split(".")[0] in services))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_read_token_is_private_and_survives_restarts(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    first = datadir.load_or_create_read_token(data)
    path = data.read_token_file
    assert path == data.root / "read-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert datadir.load_or_create_read_token(data) == first
    assert len(first) >= 32
    assert first != datadir.load_or_create_secret(data)


def test_a_read_token_file_that_is_not_a_token_is_refused(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    (data.root / "read-token").write_text("short\n")
    with pytest.raises(datadir.SecretFileError, match="read-token"):
        datadir.load_or_create_read_token(data)


def test_every_service_gets_the_read_token_and_the_workers_their_http_settings() -> None:
    env = services.service_environment(
        {"PATH": "/bin", "VIGIE_READ_TOKEN": "inherited", "VIGIE_PROBER_METRICS_PORT": "1"},
        secret="webhook-secret-0123456789",
        read_token="read-token-0123456789abcdef",
        bootstrap="127.0.0.1:9092",
        ports=_ports(),
    )
    assert env["VIGIE_READ_TOKEN"] == "read-token-0123456789abcdef"
    assert (env["VIGIE_PROBER_HOST"], env["VIGIE_PROBER_PORT"]) == ("127.0.0.1", "19101")
    assert (env["VIGIE_NOTIFIER_HOST"], env["VIGIE_NOTIFIER_PORT"]) == ("127.0.0.1", "19102")
    assert not [name for name in env if "_METRICS_" in name]


def test_summary_says_where_the_read_token_is_and_never_prints_it(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    token = datadir.load_or_create_read_token(data)
    stack = Stack(data, _ports(), lambda _line: None)

    lines = main.summary(stack, "uv run vigie sample")

    text = "\n".join(lines)
    assert token not in text
    values_at = {line.index("http") for line in lines if "http://" in line}
    assert len(values_at) == 1, "the values are not in one column"
    assert all(line[min(values_at) - 2 : min(values_at)] == "  " for line in lines[:-1])
    [read] = [line for line in lines if line.strip().startswith("read token")]
    assert str(data.root / "read-token") in read
    assert "Authorization: Bearer" in read
    assert any(
        line.strip().startswith("prober API/metrics") and "http://127.0.0.1:19101/" in line
        for line in lines
    )
    assert any(
        line.strip().startswith("notifier API/metrics") and "http://127.0.0.1:19102/" in line
        for line in lines
    )


@pytest.mark.parametrize(
    "flags",
    [
        ["--prober-port", "19101", "--notifier-port", "19102"],
        ["--prober-metrics-port", "19101", "--notifier-metrics-port", "19102"],
    ],
)
def test_up_takes_the_worker_port_flags_and_their_old_names(flags: list[str]) -> None:
    args = main.build_parser().parse_args(["up", "--ingest-port", "18000", *flags])

    assert main._ports(args) == _ports()


def test_up_help_shows_only_the_new_port_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.build_parser().parse_args(["up", "--help"])

    shown = capsys.readouterr().out
    assert "--prober-port" in shown
    assert "--notifier-port" in shown
    assert "metrics-port" not in shown


def test_port_conflicts_name_the_new_flags() -> None:
    flags = {spec.name: spec.flag for spec in services.service_specs(_ports())}

    assert flags == {
        "ingest": "--ingest-port",
        "prober": "--prober-port",
        "notifier": "--notifier-port",
    }


def test_the_sample_is_the_design_brief_ticket_with_its_own_number() -> None:
    ticket = sample.sample_ticket("oceane", "0000000042")

    assert ticket == {**DESIGN_SAMPLE, "numero": "0000000042"}
    OceanePayload.model_validate(ticket)
    assert json.loads(json.dumps(ticket, ensure_ascii=False)) == ticket
