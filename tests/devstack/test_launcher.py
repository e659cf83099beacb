"""`vigie up` and `vigie sample` without starting anything: files, environment, flags, summary."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from vigie_common.events.tickets import TicketState
from vigie_devstack import datadir, lab, main, notifier, sample, services
from vigie_devstack.stack import Stack, StackError
from vigie_ingest.sources.oceane import EXAMPLE as OCEANE_EXAMPLE
from vigie_ingest.sources.oceane import STATES as OCEANE_STATES
from vigie_ingest.sources.oceane import OceanePayload
from vigie_lab import main as lab_main
from vigie_lab import packaged_scenarios
from vigie_notifier.contacts import customer_key
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.recipients import parse_recipients
from vigie_notifier.settings import NotifierSettings
from vigie_prober.credentials import CredentialStore
from vigie_prober.runbook import PingFrom
from vigie_prober.settings import ProberSettings

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


LAB_OUTPUT = """\
vigie lab: 3 devices started in 0.01 s
  jump host rebond                               127.0.10.254:2222   user tech, password $VIGIE_LAB_JUMP_PASSWORD
  rad_etx   RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC     127.0.10.1:2222   stable, user vigie, password $VIGIE_LAB_ROUTER_PASSWORD
  rad_etx   RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7    127.0.10.2:2222   stable, user vigie, password $VIGIE_LAB_ROUTER_PASSWORD
  cisco_ios RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN     127.0.10.3:2222   flapping, user vigie, password $VIGIE_LAB_ROUTER_PASSWORD
  known_hosts /data/lab/known_hosts
  inventory   /data/lab/inventory.yaml
  mail sink   127.0.0.1:2525 (SMTP, no AUTH, no TLS), messages in /data/mail
  sms sink    http://127.0.0.1:2580/messages (Bearer token in /data/sms-token), messages in /data/sms
ready (Ctrl-C stops the lab)
"""  # noqa: E501 - what `vigie-lab run --sinks` prints, verbatim
"""What ``vigie-lab run`` prints (libs/lab/src/vigie_lab/main.py) for the seed."""


def test_the_seed_places_checked_before_starting_are_the_labs_seed() -> None:
    seed = packaged_scenarios()

    assert seed.jump_host is not None
    jump = seed.jump_host
    assert lab.Place(jump.name, jump.address, jump.port) == lab.SEED_JUMP_HOST
    assert tuple(lab.Place(d.name, d.address, d.port) for d in seed.devices) == lab.SEED_DEVICES


def test_the_lab_passwords_are_random_private_and_survive_restarts(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()

    first = datadir.load_or_create_lab_passwords(data)

    for path in (data.lab_router_password_file, data.lab_jump_password_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert datadir.load_or_create_lab_passwords(data) == first
    assert first.router != first.jump
    assert min(len(first.router), len(first.jump)) >= 32
    assert first.router not in repr(first) and first.jump not in repr(first)
    assert "vigie-lab-dev" not in (first.router, first.jump)  # not the documented ones


def test_the_lab_gets_its_passwords_and_nothing_else_of_vigie() -> None:
    passwords = datadir.LabPasswords(router="router-0123456789abcdef", jump="jump-0123456789abcd")
    inherited = {"PATH": "/bin", "VIGIE_LAB_ROUTER_PASSWORD": "mine", "VIGIE_READ_TOKEN": "x"}

    env = lab.lab_environment(inherited, passwords)

    assert env["VIGIE_LAB_ROUTER_PASSWORD"] == passwords.router
    assert env["VIGIE_LAB_JUMP_PASSWORD"] == passwords.jump
    assert env["PATH"] == "/bin"
    assert "VIGIE_READ_TOKEN" not in env


def test_the_prober_is_wired_to_the_lab_with_password_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    passwords = datadir.load_or_create_lab_passwords(data)
    running = lab.RunningLab(devices=3, jump_host=lab.SEED_JUMP_HOST, inventory=tmp_path / "i.yaml")
    env = {
        **services.service_environment(
            {}, secret="s" * 32, read_token="t" * 32, bootstrap="127.0.0.1:9092", ports=_ports()
        ),
        **lab.prober_lab_environment(data, running),
    }

    assert passwords.router not in env.values() and passwords.jump not in env.values()
    # The prober reads these variables as the embedded run means them.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ProberSettings(database_url="sqlite+aiosqlite:///:memory:")
    assert settings.inventory_file == tmp_path / "i.yaml"
    assert settings.ssh.known_hosts_folder == data.lab_dir
    assert settings.ping_from is PingFrom.JUMP_HOST
    assert (settings.observation.interval_s, settings.observation.window_s) == (10, 60)
    seed = packaged_scenarios()
    assert seed.jump_host is not None
    store = CredentialStore(env)
    router = store.get(seed.devices[0].credentials)  # the seed inventory's profiles
    jump = store.get(seed.jump_host.credentials)
    assert (router.username, jump.username) == (seed.devices[0].username, seed.jump_host.username)
    assert router.password is not None and jump.password is not None
    assert router.password.get_secret_value() == passwords.router
    assert jump.password.get_secret_value() == passwords.jump


def test_the_labs_output_says_where_it_listens_once_ready() -> None:
    lines = LAB_OUTPUT.splitlines()

    assert lab.parse_lab_output(lines[:-1]) is None
    assert lab.parse_lab_output(lines) == lab.RunningLab(
        devices=3,
        jump_host=lab.Place("rebond", "127.0.10.254", 2222),
        inventory=Path("/data/lab/inventory.yaml"),
        mail=lab.RunningMailSink("127.0.0.1", 2525, Path("/data/mail")),
        sms=lab.RunningSmsSink(
            "http://127.0.0.1:2580/messages", Path("/data/sms-token"), Path("/data/sms")
        ),
    )
    without_sinks = lab.parse_lab_output([line for line in lines if " sink " not in line])
    assert without_sinks is not None
    assert (without_sinks.mail, without_sinks.sms) == (None, None)
    with pytest.raises(ValueError, match="no inventory path"):
        lab.parse_lab_output([line for line in lines if "inventory" not in line])


def test_a_taken_lab_place_is_refused_naming_it_and_the_way_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.10.254", 0))
        busy.listen()
        place = lab.Place("rebond", "127.0.10.254", busy.getsockname()[1])

        with pytest.raises(lab.LabPlaceTaken) as caught:
            lab.check_lab_places_free([place])

    message = str(caught.value)
    assert f"{place} is already in use" in message
    assert "rebond" in message
    assert "--lab-any-ports" in message


def _value_column(line: str) -> int:
    """Where a summary row's value starts: after its label and two spaces or more."""
    found = re.match(r"  \S+(?: \S+)*  +", line)
    assert found is not None, line
    return found.end()


def test_summary_says_where_the_lab_listens_and_never_shows_its_passwords(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    passwords = datadir.load_or_create_lab_passwords(data)
    stack = Stack(data, _ports(), lambda _line: None)
    stack.lab = _running_lab(data)

    lines = main.summary(stack, "uv run vigie sample")

    text = "\n".join(lines)
    assert passwords.router not in text and passwords.jump not in text
    [where] = [line for line in lines if line.strip().startswith("lab (SSH)")]
    assert "127.0.10.254:2222" in where and "3 devices" in where
    assert any(str(data.lab_dir / "inventory.yaml") in line for line in lines)
    assert any(str(data.lab_router_password_file) in line for line in lines)
    assert any("every 10 s for 60 s" in line for line in lines)
    started_rows = [line for line in lines[:-1] if not line.strip().startswith("broker")]
    value_columns = {_value_column(line) for line in started_rows}  # no broker address yet
    assert len(value_columns) == 1, "the values are not in one column"


def test_the_sample_command_names_the_prober_port_when_it_is_not_the_default(
    tmp_path: Path,
) -> None:
    data = datadir.DataDir.at(tmp_path)
    command = main.sample_command(data, str(tmp_path), _ports())

    assert "--prober-port 19101" in command
    assert "--ingest-port 18000" in command
    default = services.Ports(ingest=8000, prober=9101, notifier=9102)
    assert main.sample_command(data, ".vigie", default).endswith("(or: make sample)")


def test_the_verdict_url_is_the_probers_read_api() -> None:
    assert sample.verdict_url("abc", 9101) == "http://127.0.0.1:9101/v1/tickets/abc/verdict"


def test_up_takes_a_flag_for_when_the_seed_places_are_taken() -> None:
    parser = main.build_parser()

    assert parser.parse_args(["up", "--lab-any-ports"]).lab_any_ports is True
    assert parser.parse_args(["up"]).lab_any_ports is False
    assert parser.parse_args(["sample", "--prober-port", "19101"]).prober_port == 19101


async def test_a_missing_lab_is_explained_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "LAB_MODULE", "vigie_lab_not_installed")
    monkeypatch.setattr("vigie_devstack.stack.LAB_MODULE", "vigie_lab_not_installed")
    started: list[str] = []
    stack = Stack(datadir.DataDir.at(tmp_path), _ports(), started.append, lab_any_ports=True)

    with pytest.raises(StackError, match="vigie-lab"):
        await stack.start()

    assert started == []
    assert await stack.stop() is False


def _running_lab(data: datadir.DataDir) -> lab.RunningLab:
    """What the lab of ``vigie up`` says once ready, on the seed's places."""
    return lab.RunningLab(
        devices=3,
        jump_host=lab.SEED_JUMP_HOST,
        inventory=data.lab_dir / "inventory.yaml",
        mail=lab.RunningMailSink("127.0.0.1", 2525, data.mail_dir),
        sms=lab.RunningSmsSink("http://127.0.0.1:2580/messages", data.sms_token_file, data.sms_dir),
    )


def test_the_lab_is_started_with_its_sinks_writing_under_the_data_folder(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")

    command = lab.lab_command(data, any_ports=False)

    assert command[1:4] == ["-m", "vigie_lab", "run"]
    args = lab_main._parser().parse_args(command[3:])  # the lab takes these flags
    lab_main._sink_paths(args)
    assert (args.data_dir, args.sinks) == (data.lab_dir, True)
    assert (args.mail_dir, args.sms_dir) == (tmp_path / "data" / "mail", tmp_path / "data" / "sms")
    assert args.sms_token_file == tmp_path / "data" / "sms-token"
    assert (args.smtp_port, args.sms_port, args.any_ports) == (None, None, False)
    assert lab_main._parser().parse_args(lab.lab_command(data, any_ports=True)[3:]).any_ports


def test_the_sinks_places_checked_before_starting_are_the_labs_defaults() -> None:
    assert [(place.address, place.port) for place in lab.SEED_SINKS] == [
        (lab_main.SINK_HOST, lab_main.SMTP_PORT),
        (lab_main.SINK_HOST, lab_main.SMS_PORT),
    ]


def test_a_taken_sink_place_is_refused_naming_the_sink_and_the_way_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        place = lab.Place("the mail sink (SMTP)", "127.0.0.1", busy.getsockname()[1])

        with pytest.raises(lab.LabPlaceTaken) as caught:
            lab.check_lab_places_free([place])

    message = str(caught.value)
    assert f"{place} is already in use: the lab needs it for the mail sink (SMTP)" in message
    assert "--lab-any-ports" in message


def test_the_notifier_is_wired_to_the_sinks_with_the_token_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    token = "sms-token-0123456789abcdefghijkl"
    data.sms_token_file.write_text(token + "\n")
    running = _running_lab(data)
    env = {
        **services.service_environment(
            {}, secret="s" * 32, read_token="t" * 32, bootstrap="127.0.0.1:9092", ports=_ports()
        ),
        **notifier.notifier_lab_environment(data, running),
    }

    assert not [name for name, value in env.items() if token in value]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = NotifierSettings(database_url="sqlite+aiosqlite:///:memory:")
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == (
        "127.0.0.1",
        2525,
        "none",
    )
    assert settings.smtp.username is None and settings.smtp.secret() is None
    assert settings.smtp.from_address.endswith("@vigie.lab.invalid")
    assert settings.sms.url == "http://127.0.0.1:2580/messages"
    assert (settings.sms.token, settings.sms.token_file) == (None, data.sms_token_file)
    assert settings.contacts_file == data.contacts_file
    assert (settings.operator, settings.message_domain) == ("VIGIE-LAB", "vigie.lab.invalid")
    for team in (settings.teams.support, settings.teams.field, settings.teams.escalation):
        [member] = parse_recipients(team)
        assert member.email.endswith("@example.com") and member.phone is None
    assert settings.port == 19102


def test_the_notifier_is_not_wired_to_a_lab_that_printed_no_sinks(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path)
    bare = lab.RunningLab(devices=3, jump_host=None, inventory=tmp_path / "inventory.yaml")

    with pytest.raises(ValueError, match="no mail and SMS sink"):
        notifier.notifier_lab_environment(data, bare)


def test_the_dev_contacts_reach_the_samples_customer_by_mail_and_sms(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()

    assert notifier.write_dev_contacts(data) is True

    path = data.contacts_file
    assert path == data.root / "contacts.yaml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    contacts = read_contacts([path])  # as the notifier imports it at start
    [entry] = contacts.entries
    assert customer_key(entry.customer) == customer_key(sample.OCEANE_SAMPLE["raison_sociale"])
    assert (entry.site_code, entry.channel) == ("", "both")
    people = parse_recipients(entry.recipients)
    assert len(people) == 2
    for person in people:
        assert person.email.endswith("@example.com")
        assert person.phone is not None and re.fullmatch(r"\+3360000000\d", person.phone)


def test_dev_contacts_already_there_are_kept_and_made_private(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    edited = "customers: []\n"
    data.contacts_file.write_text(edited)
    data.contacts_file.chmod(0o644)

    assert notifier.write_dev_contacts(data) is False

    assert data.contacts_file.read_text() == edited
    assert stat.S_IMODE(os.stat(data.contacts_file).st_mode) == 0o600


def test_summary_says_where_mail_and_sms_land_and_the_notifiers_urls(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path / "data")
    data.prepare()
    token = "sms-token-0123456789abcdefghijkl"
    data.sms_token_file.write_text(token + "\n")
    stack = Stack(data, _ports(), lambda _line: None)
    stack.lab = _running_lab(data)

    lines = main.summary(stack, "uv run vigie sample")

    assert token not in "\n".join(lines)
    rows = {line[: _value_column(line)].strip(): line[_value_column(line) :] for line in lines[:-1]}
    assert rows["mail sink"].startswith("127.0.0.1:2525 (SMTP")
    assert rows["mail folder"].startswith(f"{data.root / 'mail'}/ ")
    assert rows["SMS sink"] == (
        f"http://127.0.0.1:2580/messages (Bearer token in {data.root / 'sms-token'})"
    )
    assert rows["SMS folder"].startswith(f"{data.root / 'sms'}/ ")
    assert rows["notifier contacts"].startswith(f"{data.root / 'contacts.yaml'} ")
    notifier_api = "http://127.0.0.1:19102/v1"
    assert rows["ticket notifications"].startswith(f"{notifier_api}/tickets/<id>/notifications")
    assert rows["ticket GTR clock"] == f"{notifier_api}/tickets/<id>/gtr"
    assert rows["pending sends"] == f"{notifier_api}/notifications?state=pending"
    started_rows = [line for line in lines[:-1] if not line.strip().startswith("broker")]
    assert len({_value_column(line) for line in started_rows}) == 1


def test_the_sample_states_are_ingests_oceane_labels() -> None:
    assert {state: OCEANE_STATES[label].value for state, label in sample.STATES.items()} == {
        state.value: state.value for state in TicketState
    }


def test_a_sample_can_be_sent_again_closed_with_its_number() -> None:
    ticket = sample.sample_ticket("oceane", "0000000042", "closed")

    assert ticket == {**DESIGN_SAMPLE, "numero": "0000000042", "dernier_etat": "Clos"}
    OceanePayload.model_validate(ticket)
    assert sample.sample_ticket("oceane", "0000000042")["dernier_etat"] == "En cours"
    args = main.build_parser().parse_args(["sample", "--numero", "0000000042", "--state", "closed"])
    assert (args.numero, args.state, args.notifier_port) == ("0000000042", "closed", 9102)
    with pytest.raises(SystemExit):
        main.build_parser().parse_args(["sample", "--state", "gone"])


def test_the_sample_commands_name_the_notifier_port_and_the_closure(tmp_path: Path) -> None:
    data = datadir.DataDir.at(tmp_path)

    assert "--notifier-port 19102" in main.sample_command(data, str(tmp_path), _ports())
    closing = main.closing_command(data, str(tmp_path), _ports(), "0000000042")
    assert closing.startswith(f"uv run vigie sample --data-dir {tmp_path} --ingest-port 18000")
    assert closing.endswith("--notifier-port 19102 --numero 0000000042 --state closed")
    default = services.Ports(ingest=8000, prober=9101, notifier=9102)
    assert main.closing_command(data, ".vigie", default, "42") == (
        "uv run vigie sample --numero 42 --state closed"
    )


def test_the_notifier_urls_are_its_read_api() -> None:
    assert sample.notifier_urls("abc", 9102) == (
        "http://127.0.0.1:9102/v1/tickets/abc/notifications",
        "http://127.0.0.1:9102/v1/tickets/abc/gtr",
    )


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """``vigie sample | head``: the reader is gone when vigie writes; no traceback.

    ``vigie``'s entry point runs a command that prints its lines (``sample``'s report), its
    standard output a pipe whose reader already left (what ``head`` does once it has enough).
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    script = textwrap.dedent(
        """
        from vigie_devstack import main
        main.main = lambda argv=None: print("a line of the sample's report\\n" * 50) or 0
        main.run()
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert done.returncode == 1
