"""The deployment files hold no secret, run nothing as a superuser and expose nothing by default."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
VIGIE_SERVICES = ("ingest", "prober", "notifier")
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
REQUIRED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:\?.+")
"""``NAME:?message``: compose refuses to start when the variable is unset or empty."""
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=VALUE form
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _is_required_variable(value: str) -> bool:
    """The whole value is one ``${NAME:?message}``."""
    found = INTERPOLATION.fullmatch(value)
    return found is not None and REQUIRED.fullmatch(found.group(1)) is not None


def _kustomize() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize build cannot run here")
    result = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy/k8s/base")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``Kind/name`` → pod spec, for every workload that runs pods."""
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
        for doc in docs
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    }


def test_compose_gives_no_variable_a_default() -> None:
    defaulted = [
        expr for expr in INTERPOLATION.findall(COMPOSE.read_text()) if not REQUIRED.fullmatch(expr)
    ]
    assert not defaulted, f"these variables have a default or are optional: {defaulted}"


def test_compose_services_never_connect_as_the_superuser() -> None:
    services = _compose()["services"]
    superuser = _environment(services["postgres"]).get("POSTGRES_USER", "postgres")
    for name, job in [(n, j) for n in VIGIE_SERVICES for j in (n, f"{n}-migrate")]:
        written = _environment(services[job])["VIGIE_DATABASE_URL"]
        variables = INTERPOLATION.findall(written)
        # Parsed with each ${…} stood in for (its message may hold URL delimiters).
        url = urlsplit(INTERPOLATION.sub(lambda _: "INTERPOLATED", written))
        assert url.username != superuser, f"{name} connects as the superuser {superuser!r}"
        assert url.username == name, f"{name} connects as {url.username!r}, not its own role"
        assert url.path == f"/{name}", f"{name} uses database {url.path!r}"
        assert url.password == "INTERPOLATED", f"{name}'s password is {url.password!r}"
        assert len(variables) == 1
        assert REQUIRED.fullmatch(variables[0]), f"{name}'s password is not required"


def test_compose_sets_no_literal_secret_in_any_service() -> None:
    for name, service in _compose()["services"].items():
        for key, value in _environment(service).items():
            if any(word in key.upper() for word in SECRET_WORDS):
                assert _is_required_variable(value), f"{name}: {key} is not a required variable"


def test_compose_passes_the_read_token_to_every_vigie_service() -> None:
    services = _compose()["services"]
    for name in VIGIE_SERVICES:
        assert _is_required_variable(_environment(services[name]).get("VIGIE_READ_TOKEN", ""))


def test_compose_publishes_ports_on_loopback_only() -> None:
    published = {name: service.get("ports", []) for name, service in _compose()["services"].items()}
    assert published["ingest"], "ingest must stay reachable from the host"
    for name, ports in published.items():
        for entry in ports:
            host_ip = entry.get("host_ip") if isinstance(entry, dict) else str(entry)
            assert str(host_ip).startswith("127.0.0.1"), f"{name} publishes {entry!r}"


def test_compose_database_init_creates_one_role_per_service_from_the_environment() -> None:
    postgres = _compose()["services"]["postgres"]
    env = _environment(postgres)
    assert _is_required_variable(env["POSTGRES_PASSWORD"])
    for name in VIGIE_SERVICES:
        assert _is_required_variable(env[f"{name.upper()}_DB_PASSWORD"])
    scripts = [v.split(":")[0] for v in postgres["volumes"] if "initdb" in v]
    assert scripts, "no init script mounted"
    text = (ROOT / scripts[0]).read_text()
    assert "CREATE ROLE" in text
    assert "SUPERUSER" not in text.replace("NOSUPERUSER", "")
    assert not re.search(r"PASSWORD\s+'", text), "the init script holds a literal password"


def _ignore_lines(path: Path) -> set[str]:
    return {
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def test_compose_secrets_file_never_enters_an_image() -> None:
    assert ".env" in _ignore_lines(ROOT / ".dockerignore")


def test_compose_secrets_file_is_never_committed() -> None:
    ignored = _ignore_lines(ROOT / ".gitignore")
    assert ignored & {".env", "/.env"}, ".gitignore does not ignore .env"
    assert not ignored & {"!.env", "!/.env"}


def test_compose_tags_the_images_it_builds_with_the_package_versions() -> None:
    services = _compose()["services"]
    for name in VIGIE_SERVICES:
        project = tomllib.loads((ROOT / f"services/{name}/pyproject.toml").read_text())
        for job in (name, f"{name}-migrate"):
            assert services[job]["image"] == f"vigie-{name}:{project['project']['version']}"
    lab = tomllib.loads((ROOT / "libs/lab/pyproject.toml").read_text())
    assert services["lab"]["image"] == f"vigie-lab:{lab['project']['version']}"


def test_compose_runs_vigie_containers_without_privileges() -> None:
    for name, service in _compose()["services"].items():
        if "build" not in service:
            continue
        assert service.get("read_only") is True, f"{name}: the root file system is writable"
        assert service.get("cap_drop") == ["ALL"], f"{name} keeps capabilities"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "user" not in service, f"{name} overrides the image's non-root user"
        assert not service.get("privileged"), name


def _dockerfile_stages() -> list[list[str]]:
    """The root Dockerfile's instructions (continuations joined), split at each ``FROM``."""
    instructions: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):  # comments go, even inside a continuation
            continue
        if text.endswith("\\"):
            pending += text.removesuffix("\\") + " "
            continue
        instructions.append(pending + text)
        pending = ""
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_dockerfile_is_multi_stage_and_the_image_runs_as_a_user() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile is not multi-stage"
    final = stages[-1]
    users = [i.split(None, 1)[1] for i in final if i.upper().startswith("USER ")]
    assert users, "the image runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"USER {users[-1]} is not a numeric non-root uid"
    copies = [i for i in final if i.upper().startswith(("COPY ", "ADD "))]
    assert all("--from=" in copy for copy in copies), f"the image copies sources: {copies}"


def test_dockerfile_has_a_health_check_in_python() -> None:
    final = _dockerfile_stages()[-1]
    (check,) = [i for i in final if i.upper().startswith("HEALTHCHECK ")]
    command = json.loads(check[check.index("[") :])
    assert command[:2] == ["python", "-c"], command
    compile(command[2], "<HEALTHCHECK>", "exec")


def test_dockerfile_pins_its_base_image_and_tools() -> None:
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert bases, "no pinned PYTHON_IMAGE"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?", bases[0]), bases[0]
    assert re.search(r"pip install [^\n]*uv==\d+\.\d+\.\d+", text), "uv is not pinned"


def test_k8s_images_are_pinned_to_the_package_versions() -> None:
    for doc in _kustomize():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", f"{container['image']} is not pinned"
            package = name.rsplit("/", 1)[-1].removeprefix("vigie-")
            project = tomllib.loads((ROOT / f"services/{package}/pyproject.toml").read_text())
            assert tag == project["project"]["version"], f"{container['image']}"


def test_k8s_pods_never_mount_the_service_account_token() -> None:
    specs = _pod_specs(_kustomize())
    assert len(specs) == 4
    mounting = [kind for kind, spec in specs.items() if spec.get("automountServiceAccountToken")]
    unset = [kind for kind, spec in specs.items() if "automountServiceAccountToken" not in spec]
    assert not mounting + unset, f"these pods mount the token: {mounting + unset}"


def test_k8s_services_take_the_read_token_from_a_secret() -> None:
    specs = _pod_specs(_kustomize())
    for name in VIGIE_SERVICES:
        (container,) = specs[f"Deployment/vigie-{name}"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        assert "value" not in env["VIGIE_READ_TOKEN"]
        assert env["VIGIE_READ_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "vigie-secrets"
