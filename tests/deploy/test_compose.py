"""docker-compose.yml, read statically: start order, health, pinned images, mounts, secrets.

No Docker engine is needed: the file is checked as data (the Compose specification itself is
checked in ``test_manifests.py``), ``.env.example`` against it, and the README's way of making
``.env`` is run in a temporary folder, its values then given to each service's settings.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml
from vigie_common.settings import ServiceSettings, weak_secret_reason
from vigie_ingest.settings import IngestSettings
from vigie_notifier.settings import NotifierSettings
from vigie_prober.settings import ProberSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "prober": ProberSettings,
    "notifier": NotifierSettings,
}
INFRASTRUCTURE = ("kafka", "postgres")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
VERSION_TAG = re.compile(r"v?\d+(\.\d+)+(-[a-z0-9.]+)?")
"""A release: ``3.9.0``, ``v1.21.8``, ``16.6-alpine``; never ``latest`` nor a bare major."""
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Each dependency and its condition (the short list form means ``service_started``)."""
    depends = service.get("depends_on", {})
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def _network_parent(service: Mapping[str, Any]) -> str | None:
    """The service whose network namespace ``service`` shares (``network_mode: service:X``)."""
    mode = str(service.get("network_mode", ""))
    return mode.removeprefix("service:") if mode.startswith("service:") else None


def _is_job(service: Mapping[str, Any]) -> bool:
    """A one-shot job: runs once, never restarted (compose waits for it to complete)."""
    return str(service.get("restart", "no")) == "no" and "healthcheck" not in service


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check: dict[str, Any] = service.get("healthcheck") or {}
    return bool(check) and not check.get("disable") and check.get("test") not in (["NONE"], None)


def _env_example() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        matched = ENV_LINE.match(line)
        if matched:
            assert matched[1] not in found, f".env.example sets {matched[1]} twice"
            found[matched[1]] = matched[2]
    return found


def _strings(node: object) -> list[str]:
    """Every key and value of a loaded YAML document that is text (comments are gone)."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _compose_variables() -> set[str]:
    """The variables compose interpolates (``${NAME…}``), anywhere in the file but comments."""
    return {name for text in _strings(_compose()) for name in INTERPOLATION.findall(text)}


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    return INTERPOLATION.sub(lambda m: env[m.group(1)], value)


def _environment(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    written = service.get("environment", {})
    if isinstance(written, list):
        written = dict(item.partition("=")[::2] for item in written)
    return {str(k): _interpolate(str(v), env) for k, v in written.items()}


def _readme_env_commands() -> str:
    """The bash block of README's "Running with Docker Compose" that makes ``.env``."""
    text = README.read_text()
    start = text.index("## Running with Docker Compose\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    making = [block for block in blocks if ".env.example" in block and ".env" in block]
    assert making, "the section shows no commands that make .env from .env.example"
    # Everything up to `docker compose up` (no engine here).
    lines = making[0].splitlines()
    kept = [line for line in lines if not line.startswith("docker compose")]
    assert len(kept) < len(lines), "the section does not say `docker compose up --build`"
    return "\n".join(kept) + "\n"


@pytest.fixture(scope="module")
def generated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``.env`` as the README makes it, in a folder holding only ``.env.example``."""
    folder = tmp_path_factory.mktemp("compose-env")
    (folder / ".env.example").write_text(ENV_EXAMPLE.read_text())
    result = subprocess.run(
        ["bash", "-e"],
        input=_readme_env_commands(),
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    env_file = folder / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, "the README's .env is not private"
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        matched = ENV_LINE.match(line)
        if matched:
            values[matched[1]] = matched[2].strip("'\"")
    return values


def test_every_long_running_service_has_a_healthcheck_and_jobs_run_once() -> None:
    services = _services()
    for name, service in services.items():
        if _is_job(service):
            waited = [
                other
                for other, spec in services.items()
                if _depends_on(spec).get(name) == COMPLETED
            ]
            assert waited, f"{name} is a one-shot job nothing waits for"
        else:
            assert _has_healthcheck(service), f"{name} runs on without a health check"
            assert service.get("restart") == "unless-stopped", f"{name} is not restarted"


def test_python_health_checks_use_the_standard_library() -> None:
    for name, service in _services().items():
        if "build" not in service or _is_job(service):
            continue
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: {test}"
        compile(test[3], f"<{name} healthcheck>", "exec")
        assert "curl" not in test[3]


def test_depends_on_waits_for_health_or_completion() -> None:
    services = _services()
    for name, service in services.items():
        for dependency, condition in _depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            target = services[dependency]
            assert condition in {HEALTHY, COMPLETED}, f"{name} -> {dependency}: {condition}"
            if condition == HEALTHY:
                assert _has_healthcheck(target), f"{dependency} has no health check to wait for"
            else:
                assert _is_job(target), f"{name} waits for {dependency} to exit, a service"
        parent = _network_parent(service)
        if parent is not None:
            assert _depends_on(service).get(parent) == HEALTHY, f"{name} shares {parent}'s net"


def test_start_order_is_infrastructure_then_migrations_then_services() -> None:
    services = _services()
    graph = {name: set(_depends_on(service)) for name, service in services.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the failure message
        pytest.fail(f"depends_on has a cycle: {error.args[1]}")
    for name in SETTINGS:
        migrate = f"{name}-migrate"
        assert _depends_on(services[migrate]) == {"postgres": HEALTHY}, migrate
        assert services[migrate]["command"] == ["migrate"], migrate
        assert services[migrate]["image"] == services[name]["image"]
        assert services[migrate]["build"] == services[name]["build"]
        needs = _depends_on(services[name])
        assert needs.get(migrate) == COMPLETED, f"{name} does not wait for its migrations"
        for infrastructure in INFRASTRUCTURE:
            assert needs.get(infrastructure) == HEALTHY, (
                f"{name} does not wait for {infrastructure}"
            )
        assert order.index(migrate) < order.index(name)
        env = _environment(services[name], dict.fromkeys(_compose_variables(), "x"))
        assert not any(key.endswith("_MIGRATE_ON_START") for key in env), (
            f"{name} migrates on start: its migration job does that"
        )
    assert _depends_on(services["prober"]).get("lab") == HEALTHY
    assert _depends_on(services["notifier"]).get("mailpit") == HEALTHY
    assert _depends_on(services["grafana"]).get("prometheus") == HEALTHY


def test_every_image_is_pinned_to_a_release() -> None:
    for name, service in _services().items():
        image = service.get("image", "")
        assert image, f"{name} has no image (the ones built are tagged too)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and VERSION_TAG.fullmatch(tag), f"{name}: {image} is not pinned"


def test_third_party_images_are_the_ones_chosen() -> None:
    images = {name: service["image"].rpartition(":")[0] for name, service in _services().items()}
    assert images["kafka"] == "apache/kafka"
    assert images["postgres"] == "postgres"
    assert images["mailpit"] == "axllent/mailpit"
    assert images["prometheus"] == "prom/prometheus"
    assert images["grafana"] == "grafana/grafana"
    kraft = _environment(_services()["kafka"], {})
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kraft
    assert set(kraft["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}


def test_every_bind_mounted_path_exists_in_the_repository() -> None:
    mounted: dict[str, str] = {}
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source, target = (
                (volume.get("source", ""), volume.get("target", ""))
                if isinstance(volume, dict)
                else str(volume).split(":")[:2]
            )
            if source.startswith(("./", "../", "/")):
                mounted[target] = source
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
    assert mounted["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounted["/etc/prometheus/rules"] == "./deploy/prometheus/rules"
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounted["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"


def test_prometheus_scrapes_names_compose_answers() -> None:
    config_file = ROOT / "deploy/prometheus/prometheus.yml"
    if not config_file.exists():
        pytest.skip("deploy/prometheus/prometheus.yml is not written yet")
    services = _services()
    names = set(services)
    for service in services.values():
        for network in (service.get("networks") or {}).values():
            names |= set((network or {}).get("aliases", []))
    config = yaml.safe_load(config_file.read_text())
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host = target.rpartition(":")[0]
                assert host in names | {"localhost", "127.0.0.1"}, f"{job['job_name']}: {target}"


def test_env_example_lists_exactly_the_variables_compose_reads() -> None:
    example = _env_example()
    assert set(example) == _compose_variables(), (
        f"only in compose: {sorted(_compose_variables() - set(example))}; "
        f"only in .env.example: {sorted(set(example) - _compose_variables())}"
    )
    text = ENV_EXAMPLE.read_text()
    for name, value in example.items():
        assert value == "", f".env.example gives {name} a value: leave it for .env"
        comment = text[: text.index(f"\n{name}=")].rsplit("\n", 1)[-1]
        assert comment.startswith("# generate: "), f"{name} has no line saying how to make it"


def test_readme_makes_a_complete_private_env(generated_env: dict[str, str]) -> None:
    assert set(generated_env) == _compose_variables()
    for name, value in generated_env.items():
        assert value, f"{name} is empty"
        if name != "VIGIE_INGEST_WEBHOOK_SECRETS":
            assert weak_secret_reason(value) is None, f"{name} {weak_secret_reason(value)}"
    for name in ("POSTGRES_SUPERUSER_PASSWORD", *(f"{s.upper()}_DB_PASSWORD" for s in SETTINGS)):
        assert re.fullmatch(r"[0-9a-f]{32,}", generated_env[name]), f"{name} is not hex"
    assert len(set(generated_env.values())) == len(generated_env), "two secrets are the same"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_services_accept_their_compose_environment(
    name: str, generated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service (and its migration job) starts in prod with what compose gives it."""
    for variable in list(os.environ):
        if variable.startswith("VIGIE_"):
            monkeypatch.delenv(variable)
    services = _services()
    for job in (name, f"{name}-migrate"):
        env = _environment(services[job], generated_env)
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            settings = SETTINGS[name]()
        assert settings.env == "prod"
        assert str(settings.database_url).startswith("postgresql+asyncpg://")
