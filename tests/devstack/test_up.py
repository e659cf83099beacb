"""`vigie up` as a real process: the lab and its sinks, Tansu, SQLite, the services, a verdict,
the GTR clock, the closure's mail and SMS, Ctrl-C."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.kafka.tansu import free_port
from vigie_devstack.datadir import DataDir, load_or_create_secret, read_secret

VIGIE = str(Path(sys.executable).with_name("vigie"))
TICKETS = "vigie.tickets.v1"
TICKET_ENDS = {"RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC", "RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"}
"""The devices of the sample ticket's two sites in the lab's seed."""
SEED_JUMP_HOST = ("127.0.10.254", 2222)
CUSTOMER_MAILS = {"jean.dupont@example.com", "astreinte-reseau@example.com"}
CUSTOMER_PHONES = {"+33600000001", "+33600000002"}
"""The dev contacts `vigie up` writes for the sample's customer (channel both)."""
SAMPLE_SUBJECT_TAIL = " / Votre référence : CD0HG0FDC / Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS"
"""The team's subject after ``VIGIE-LAB INFO INCIDENT <numero>``, from the sample's fields."""
SAMPLE_GTR_START = "2025-05-30T07:52:00+00:00"
SAMPLE_GTR_DEADLINE = "2025-05-30T11:52:00+00:00"
"""The sample's clock: opened 30/05/2025 09:52 Paris (CEST, +02:00); "GTR S2 240 mn Lundi au
Samedi 8h à 18h" gives 240 business minutes from then, all that Friday (not a holiday): 13:52
Paris. The ticket is old, so its deadline is long past when the test sends it."""

_T = TypeVar("_T")


class Output:
    """Collects a process's stdout lines on a thread so that waits can be bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.ended = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)  # the process closed its output: nothing more will come

    def wait_for(self, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(f"no {wanted!r} line within {timeout} s: {self.seen}")
            with contextlib.suppress(queue.Empty):
                line = self._lines.get(timeout=min(left, 0.5))
                if line is None:
                    self.ended = True
                else:
                    self.seen.append(line)

    def rest(self, timeout: float = 5.0) -> list[str]:
        self._thread.join(timeout)
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return self.seen


def _up_command(
    data_dir: Path, ingest: int, prober: int, notifier: int, *, lab_any_ports: bool = True
) -> list[str]:
    """The launcher on the given ports; the lab on free ports too, unless asked for the seed's
    fixed ones (so that a `make run` beside the tests does not make them fail)."""
    return [
        VIGIE,
        "up",
        "--data-dir",
        str(data_dir),
        "--ingest-port",
        str(ingest),
        "--prober-port",
        str(prober),
        "--notifier-port",
        str(notifier),
        *(["--lab-any-ports"] if lab_any_ports else []),
    ]


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _lab_places(inventory: Path) -> set[tuple[str, int]]:
    """Every address and port the running lab listens on, from the inventory it wrote."""
    written = yaml.safe_load(inventory.read_text())
    devices = [device for site in written["sites"] for device in site["devices"]]
    return {(entry["address"], entry["port"]) for entry in devices + written["jump_hosts"]}


def _wait_verdict(client: httpx.Client, url: str, token: str, timeout: float) -> dict[str, object]:
    """The prober's verdict once there is one (the read API answers 404 until it plans)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(url, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code == 200 and answer.json()["verdict"] is not None:
            verdict: dict[str, object] = answer.json()["verdict"]
            return verdict
        if time.monotonic() > deadline:
            raise AssertionError(f"no verdict at {url} within {timeout} s: {answer.text}")
        time.sleep(0.5)


def _poll(what: str, get: Callable[[], _T | None], timeout: float) -> _T:
    """``get()``'s first answer that is not None, asked every half second until ``timeout``."""
    deadline = time.monotonic() + timeout
    while (found := get()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.5)
    return found


def _summary_value(lines: list[str], label: str) -> str:
    """The value of the summary's row ``label``."""
    [row] = [line for line in lines if line.startswith(f"  {label}  ")]
    return row.removeprefix(f"  {label}").strip()


def _sample(data_dir: Path, ingest: int, prober: int, notifier: int, *extra: str) -> str:
    """``vigie sample`` on this run's ports; its stdout, once it answered 202."""
    sent = subprocess.run(
        [
            VIGIE,
            "sample",
            "--data-dir",
            str(data_dir),
            "--ingest-port",
            str(ingest),
            "--prober-port",
            str(prober),
            "--notifier-port",
            str(notifier),
            *extra,
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert sent.returncode == 0, sent.stderr
    assert "HTTP 202" in sent.stdout, sent.stdout
    return sent.stdout


def _mails(folder: Path) -> list[tuple[Path, email.message.EmailMessage]]:
    """Every ``.eml`` file of the mail sink's folder, parsed."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        found.append((path, message))
    return found


def _processed(client: httpx.Client, port: int, service: str) -> float:
    text = client.get(f"http://127.0.0.1:{port}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"vigie_{service}_consumer_messages_total" and sample.labels == {
                "topic": TICKETS,
                "outcome": "processed",
            }:
                return float(sample.value)
    return 0.0


def _wait_processed(client: httpx.Client, port: int, service: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _processed(client, port, service) < 1:
        if time.monotonic() > deadline:
            raise AssertionError(f"{service} did not process the ticket within {timeout} s")
        time.sleep(0.25)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, list[int]]]:
    ports = [free_port(), free_port(), free_port()]
    process = subprocess.Popen(
        _up_command(tmp_path / "data", *ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    output = Output(process)
    try:
        yield process, output, ports
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.rest()
        assert process.stdout is not None
        process.stdout.close()


@pytest.mark.integration
def test_up_runs_the_stack_end_to_end_and_stops_on_ctrl_c(
    launcher: tuple[subprocess.Popen[str], Output, list[int]], tmp_path: Path
) -> None:
    process, output, (ingest, prober, notifier) = launcher
    output.wait_for("ready", timeout=90)
    broker_line = next(line for line in output.rest(0.5) if line.strip().startswith("broker"))
    found = re.search(r"127\.0\.0\.1:(\d+)", broker_line)
    assert found is not None
    broker_port = int(found.group(1))

    summary = output.rest(0.5)
    [lab_line] = [line for line in summary if line.strip().startswith("lab (SSH)")]
    found = re.search(r"(127\.0\.10\.254):(\d+) \(rebond, user tech\), 3 devices", lab_line)
    assert found is not None, lab_line
    inventory = tmp_path / "data" / "lab" / "inventory.yaml"
    assert any(str(inventory) in line for line in summary if "lab inventory" in line)
    lab_places = _lab_places(inventory)
    assert (found.group(1), int(found.group(2))) in lab_places
    assert len(lab_places) == 4  # the seed's three routers and its jump host

    # The notifier's side of the summary: both sinks, both folders, the notifier's read API.
    data_dir = tmp_path / "data"
    mail_folder, sms_folder = data_dir / "mail", data_dir / "sms"
    assert _summary_value(summary, "mail folder").startswith(f"{mail_folder}/ ")
    assert _summary_value(summary, "SMS folder").startswith(f"{sms_folder}/ ")
    found = re.match(r"127\.0\.0\.1:(\d+) \(SMTP", _summary_value(summary, "mail sink"))
    assert found is not None, summary
    smtp_port = int(found.group(1))
    sms_sink = _summary_value(summary, "SMS sink")
    found = re.match(r"http://127\.0\.0\.1:(\d+)/messages \(Bearer token in (\S+)\)", sms_sink)
    assert found is not None, sms_sink
    sms_port = int(found.group(1))
    assert found.group(2) == str(data_dir / "sms-token")
    assert _listening(smtp_port) and _listening(sms_port)
    notifier_api = f"http://127.0.0.1:{notifier}/v1"
    assert _summary_value(summary, "ticket notifications").startswith(
        f"{notifier_api}/tickets/<id>/notifications"
    )
    assert _summary_value(summary, "ticket GTR clock") == f"{notifier_api}/tickets/<id>/gtr"
    assert _summary_value(summary, "pending sends") == f"{notifier_api}/notifications?state=pending"
    contacts = data_dir / "contacts.yaml"
    assert _summary_value(summary, "notifier contacts").startswith(f"{contacts} ")
    assert stat.S_IMODE(contacts.stat().st_mode) == 0o600

    sent_stdout = _sample(data_dir, ingest, prober, notifier)
    assert '"ticket_id"' in sent_stdout
    assert f"http://127.0.0.1:{ingest}/v1/tickets/" in sent_stdout

    with httpx.Client(timeout=5.0, trust_env=False) as client:
        _wait_processed(client, prober, "prober", timeout=30)
        _wait_processed(client, notifier, "notifier", timeout=30)

    ticket_url = next(line for line in sent_stdout.splitlines() if line.startswith("ticket: "))
    ticket_url = ticket_url.removeprefix("ticket: ")
    read_token = (tmp_path / "data" / "read-token").read_text().strip()
    assert str(tmp_path / "data" / "read-token") in sent_stdout
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        assert client.get(ticket_url).status_code == 401
        auth = {"Authorization": f"Bearer {read_token}"}
        assert client.get(ticket_url, headers=auth).status_code == 200

    # The sample's verdict: probed through the lab's jump host, within a minute.
    verdict_line = next(line for line in sent_stdout.splitlines() if line.startswith("verdict "))
    verdict_url = verdict_line.rsplit(" ", 1)[1]
    assert re.fullmatch(rf"http://127\.0\.0\.1:{prober}/v1/tickets/[^/]+/verdict", verdict_url)
    ticket_id = verdict_url.split("/")[-2]
    assert ticket_url.endswith(f"/v1/tickets/{ticket_id}")
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        assert client.get(verdict_url).status_code == 401
        verdict = _wait_verdict(client, verdict_url, read_token, timeout=60)
        observations = client.get(
            verdict_url.removesuffix("/verdict") + "/observations",
            headers={"Authorization": f"Bearer {read_token}"},
        ).json()["items"]
    assert verdict["verdict"] == "stable", verdict["reason"]
    assert verdict["purpose"] == "diagnostic"
    ends = verdict["ends"]
    assert isinstance(ends, list)
    assert {end["hostname"] for end in ends} == TICKET_ENDS
    assert {o["device"]["hostname"] for o in observations} == TICKET_ENDS
    for observation in observations:
        [access] = [layer for layer in observation["layers"] if layer["layer"] == "access"]
        assert access["ok"] and "via rebond" in access["detail"], access
    prober_log = (tmp_path / "data" / "logs" / "prober.log").read_text()
    assert any(
        "verdict reached" in line and ticket_id in line and '"stable"' in line
        for line in prober_log.splitlines()
    )

    # The notifier's URLs for the ticket, as `vigie sample` prints them.
    lines = sent_stdout.splitlines()
    [notifications_url] = [
        line.rsplit(" ", 1)[1] for line in lines if line.startswith("notifications ")
    ]
    [gtr_url] = [line.rsplit(" ", 1)[1] for line in lines if line.startswith("GTR clock ")]
    assert notifications_url == f"{notifier_api}/tickets/{ticket_id}/notifications"
    assert gtr_url == f"{notifier_api}/tickets/{ticket_id}/gtr"

    # Its GTR clock, within the verdict's wait: started at the ticket's creation, deadline from
    # the sample's commitment; the stable verdict (upstream said nothing of a restoration)
    # stops it, late (the sample dates from 2025).
    auth = {"Authorization": f"Bearer {read_token}"}
    with httpx.Client(timeout=5.0, trust_env=False, headers=auth) as client:

        def gtr_stopped() -> dict[str, Any] | None:
            answer = client.get(gtr_url)
            if answer.status_code == 404:
                return None
            assert answer.status_code == 200, answer.text
            clock: dict[str, Any] = answer.json()
            assert clock["error"] is None, clock
            assert clock["commitment"] == "GTR S2 240 mn Lundi au Samedi 8h à 18h"
            assert clock["contract"]["budget_minutes"] == 240
            assert clock["contract"]["schedule"]["opens"] == "08:00"
            assert (clock["started_at"], clock["deadline"]) == (
                SAMPLE_GTR_START,
                SAMPLE_GTR_DEADLINE,
            )
            assert clock["state"] in {"running", "restored"}, clock
            return clock if clock["state"] == "restored" else None

        clock = _poll("GTR clock stopped by the stable verdict", gtr_stopped, timeout=60)
        assert clock["met"] is False and clock["margin_minutes"] < 0, clock
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        assert client.get(gtr_url).status_code == 401  # behind the read token
        assert client.get(notifications_url).status_code == 401

    # An open ticket probed stable tells the customer nothing (no rule); its closure does:
    # CLT6 to the customer's contacts, by mail and SMS, through the lab's sinks.
    [numero] = re.findall(r"^POST /v1/webhooks/oceane \(numero (\d+)\)$", sent_stdout, re.M)
    [close_line] = [line.strip() for line in lines if "--state closed" in line]
    assert close_line.endswith(f"--numero {numero} --state closed")
    closed_stdout = _sample(
        data_dir, ingest, prober, notifier, "--numero", numero, "--state", "closed"
    )
    assert f'"ticket_id": "{ticket_id}"' in closed_stdout
    subject = f"VIGIE-LAB INFO INCIDENT {numero}{SAMPLE_SUBJECT_TAIL}"

    def closure_mail() -> email.message.EmailMessage | None:
        for _path, message in _mails(mail_folder):
            if message["Subject"] == subject:
                return message
        return None

    mail = _poll(f"CLT6 mail in {mail_folder}", closure_mail, timeout=30)
    assert {address.addr_spec for address in mail["To"].addresses} == CUSTOMER_MAILS
    assert mail["From"].addresses[0].addr_spec == "noreply@vigie.lab.invalid"
    assert mail["Message-ID"].endswith("@vigie.lab.invalid>")
    body = mail.get_body(("plain",))
    assert body is not None and numero in body.get_content()

    def closure_sms() -> list[dict[str, Any]] | None:
        texts = [json.loads(path.read_text()) for path in sms_folder.glob("*.json")]
        mine = [sms for sms in texts if sms["text"].startswith(f"VIGIE-LAB INFO INCIDENT {numero}")]
        return mine if len(mine) == len(CUSTOMER_PHONES) else None

    texts = _poll(f"two CLT6 SMS in {sms_folder}", closure_sms, timeout=30)
    assert {sms["to"] for sms in texts} == CUSTOMER_PHONES
    with httpx.Client(timeout=5.0, trust_env=False, headers=auth) as client:

        def all_sent() -> dict[str, Any] | None:
            answer = client.get(notifications_url)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            sends = [send for decision in found["decisions"] for send in decision["notifications"]]
            return found if sends and all(send["state"] == "sent" for send in sends) else None

        record = _poll("the closure's sends recorded as sent", all_sent, timeout=30)
        [decision] = record["decisions"]
        assert (decision["rule"], decision["template"]) == ("closure", "CLT6")
        sends = decision["notifications"]
        assert sorted(send["channel"] for send in sends) == ["mail", "sms", "sms"]
        assert [send["subject"] for send in sends if send["channel"] == "mail"] == [subject]
        pending = client.get(f"{notifier_api}/notifications", params={"state": "pending"})
        assert pending.status_code == 200 and pending.json()["items"] == []

    token_line = next(line for line in output.seen if line.strip().startswith("read token"))
    assert str(tmp_path / "data" / "read-token") in token_line
    data = DataDir.at(tmp_path / "data")
    secret = read_secret(data)
    lab_passwords = [
        path.read_text().strip()
        for path in (data.lab_router_password_file, data.lab_jump_password_file)
    ]
    for path in (data.lab_router_password_file, data.lab_jump_password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sms_token_file = data_dir / "sms-token"
    assert stat.S_IMODE(sms_token_file.stat().st_mode) == 0o600
    sms_token = sms_token_file.read_text().strip()
    assert len(sms_token) >= 32
    logs = "".join(p.read_text() for p in (tmp_path / "data" / "logs").glob("*.log"))
    for value in (secret, read_token, sms_token):
        assert value not in logs
        assert value not in "\n".join(output.seen)
        assert value not in sent_stdout + closed_stdout

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert output.rest()[-1] == "stopped"
    for port in (ingest, prober, notifier, broker_port, smtp_port, sms_port):
        assert not _listening(port), f"something still listens on {port}"
    for host, port in lab_places:
        assert not _listening(port, host), f"the lab still listens on {host}:{port}"
    assert data.log_file("lab").read_text().splitlines()[-1] == "vigie lab stopped"

    # No lab password, no SMS token anywhere but its own file: output, logs, databases, the
    # lab's files, the mail and SMS the sinks kept.
    written = {
        path: path.read_bytes()
        for path in data.root.rglob("*")
        if path.is_file()
        and path not in (data.lab_router_password_file, data.lab_jump_password_file, sms_token_file)
    }
    assert data.log_file("lab") in written and data.database("prober") in written
    assert data.database("notifier") in written
    assert any(path.parent == mail_folder for path in written)
    assert any(path.parent == sms_folder for path in written)
    for password in [*lab_passwords, sms_token]:
        assert password not in "\n".join(output.seen)
        assert password not in sent_stdout + closed_stdout
        leaks = [str(path) for path, content in written.items() if password.encode() in content]
        assert not leaks, f"a lab password or the SMS token is in {leaks}"


def test_up_fails_fast_naming_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            _up_command(tmp_path / "data", free_port(), taken, free_port()),
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
    assert result.returncode != 0
    assert f"port {taken} on 127.0.0.1 is already in use" in result.stderr
    assert "--prober-port" in result.stderr
    assert time.monotonic() - started < 15
    assert "starting the embedded broker" not in result.stdout


def test_up_fails_fast_explaining_that_the_seed_labs_place_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already taken (a lab running here): as good
            busy.bind(SEED_JUMP_HOST)
            busy.listen()
        started = time.monotonic()
        result = subprocess.run(
            _up_command(
                tmp_path / "data", free_port(), free_port(), free_port(), lab_any_ports=False
            ),
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert "127.0.10.254:2222 is already in use" in result.stderr
    assert "rebond" in result.stderr
    assert "--lab-any-ports" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15
    assert "starting the lab" not in result.stdout
    assert "starting the embedded broker" not in result.stdout


def test_the_dev_secret_is_private_and_survives_restarts(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "data")
    data.prepare()
    first = load_or_create_secret(data)
    assert stat.S_IMODE(os.stat(data.secret_file).st_mode) == 0o600
    assert load_or_create_secret(data) == first == read_secret(data)
    assert len(first) >= 32


def test_up_explains_an_unusable_secret_file_without_a_traceback(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "data")
    data.prepare()
    data.secret_file.write_text("not;a|secret\n")
    result = subprocess.run(
        _up_command(tmp_path / "data", free_port(), free_port(), free_port()),
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "does not hold a usable webhook secret: delete it" in result.stderr
    assert "Traceback" not in result.stderr
    assert "starting the embedded broker" not in result.stdout
