"""`vigie up` as a real process: Tansu, SQLite, the three services, a sample, Ctrl-C."""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.kafka.tansu import free_port
from vigie_devstack.datadir import DataDir, load_or_create_secret, read_secret

VIGIE = str(Path(sys.executable).with_name("vigie"))
TICKETS = "vigie.tickets.v1"


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


def _up_command(data_dir: Path, ingest: int, prober: int, notifier: int) -> list[str]:
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
    ]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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

    sent = subprocess.run(
        [VIGIE, "sample", "--data-dir", str(tmp_path / "data"), "--ingest-port", str(ingest)],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert sent.returncode == 0, sent.stderr
    assert "HTTP 202" in sent.stdout
    assert '"ticket_id"' in sent.stdout
    assert f"http://127.0.0.1:{ingest}/v1/tickets/" in sent.stdout

    with httpx.Client(timeout=5.0, trust_env=False) as client:
        _wait_processed(client, prober, "prober", timeout=30)
        _wait_processed(client, notifier, "notifier", timeout=30)

    ticket_url = next(line for line in sent.stdout.splitlines() if line.startswith("ticket: "))
    ticket_url = ticket_url.removeprefix("ticket: ")
    read_token = (tmp_path / "data" / "read-token").read_text().strip()
    assert str(tmp_path / "data" / "read-token") in sent.stdout
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        assert client.get(ticket_url).status_code == 401
        auth = {"Authorization": f"Bearer {read_token}"}
        assert client.get(ticket_url, headers=auth).status_code == 200

    token_line = next(line for line in output.seen if line.strip().startswith("read token"))
    assert str(tmp_path / "data" / "read-token") in token_line
    secret = read_secret(DataDir.at(tmp_path / "data"))
    logs = "".join(p.read_text() for p in (tmp_path / "data" / "logs").glob("*.log"))
    for value in (secret, read_token):
        assert value not in logs
        assert value not in "\n".join(output.seen)
        assert value not in sent.stdout

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    assert output.rest()[-1] == "stopped"
    for port in (ingest, prober, notifier, broker_port):
        assert not _listening(port), f"something still listens on {port}"


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
