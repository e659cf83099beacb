"""The deployment files are valid and only set variables the services read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel
from vigie_common.settings import SHARED_PREFIX, ServiceSettings
from vigie_ingest.settings import IngestSettings
from vigie_lab.credentials import JUMP_PASSWORD_ENV, ROUTER_PASSWORD_ENV
from vigie_notifier.settings import NotifierSettings
from vigie_prober import credentials
from vigie_prober.settings import ProberSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "prober": ProberSettings,
    "notifier": NotifierSettings,
}


def known_variables(settings_cls: type[ServiceSettings]) -> set[str]:
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    own = {f"{prefix}{name}".upper() for name in settings_cls.model_fields}
    shared = {f"{SHARED_PREFIX}{name}".upper() for name in settings_cls.shared_fields}
    return own | shared


CREDENTIAL_FIELDS = frozenset(
    {
        "USERNAME",
        "USERNAME_FILE",
        "PASSWORD",
        "PASSWORD_FILE",
        "KEY_FILE",
        "PASSPHRASE",
        "PASSPHRASE_FILE",
        "TRUST_ON_FIRST_USE",
    }
)
"""What ``vigie_prober.credentials`` reads of one profile (``…__<PROFILE>__<FIELD>``)."""


def _nested_model(settings_cls: type[BaseModel], field: str) -> type[BaseModel] | None:
    """The model a field of ``settings_cls`` holds (``ssh`` → ``SshSettings``), if it is one."""
    info = settings_cls.model_fields.get(field)
    annotation = info.annotation if info is not None else None
    for candidate in (annotation, *get_args(annotation)):  # `SmtpSettings | None` too
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def reads(settings_cls: type[ServiceSettings], variable: str) -> bool:
    """Whether the service reads ``variable``: a field, a nested one, or a credentials profile.

    Nested settings use pydantic-settings' ``__`` delimiter (``VIGIE_PROBER_SSH__MODE``): each
    part must name a field of the model the part before holds; a mapping field (the notifier's
    teams, the prober's per-product timings) takes any key. The prober also reads its
    credentials profiles straight from the environment (``vigie_prober.credentials``).
    """
    if variable in known_variables(settings_cls):
        return True
    if settings_cls is ProberSettings and variable.startswith(credentials.PREFIX):
        profile, _, field = variable.removeprefix(credentials.PREFIX).partition("__")
        return bool(profile) and field in CREDENTIAL_FIELDS
    prefix = str(settings_cls.model_config.get("env_prefix", "")).upper()
    if not variable.startswith(prefix):
        return False
    first, *rest = variable.removeprefix(prefix).lower().split("__")
    if not rest or first not in settings_cls.model_fields:
        return False
    model: type[BaseModel] | None = settings_cls
    field = first
    for part in rest:
        model = _nested_model(model, field) if model is not None else None
        if model is None:  # a mapping (or a JSON value): any key
            return True
        if part not in model.model_fields:
            return False
        field = part
    return True


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_set_only_variables_they_read() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, settings_cls in SETTINGS.items():
        for job in (name, f"{name}-migrate"):
            service = compose["services"][job]
            assert service["build"]["args"]["PACKAGE"] == f"vigie-{name}"
            variables = {v for v in service["environment"] if v.startswith("VIGIE_")}
            unknown = {v for v in variables if not reads(settings_cls, v)}
            assert not unknown, f"{job} does not read {sorted(unknown)}"


def test_compose_gives_the_lab_only_the_variables_it_reads() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    lab = compose["services"]["lab"]
    assert lab["build"]["args"]["PACKAGE"] == "vigie-lab"
    assert set(lab["environment"]) == {ROUTER_PASSWORD_ENV, JUMP_PASSWORD_ENV}


def test_compose_prober_logs_in_with_the_lab_inventory_profiles() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["prober"]["environment"]
    inventory = yaml.safe_load(
        (ROOT / "libs/lab/src/vigie_lab/scenarios/seed-inventory.yaml").read_text()
    )
    profiles = {device["credentials"] for site in inventory["sites"] for device in site["devices"]}
    profiles |= {jump["credentials"] for jump in inventory.get("jump_hosts", [])}
    for profile in profiles:
        assert credentials.variable(profile, "USERNAME") in env, profile
        assert credentials.variable(profile, "PASSWORD") in env, profile


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("VIGIE_PROBER_SSH__KNOWN_HOSTS_FOLDER", True),
        ("VIGIE_PROBER_SSH__NO_SUCH_FIELD", False),
        ("VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSWORD", True),
        ("VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASWORD", False),
        ("VIGIE_PROBER_NO_SUCH__FIELD", False),
        ("VIGIE_DATABASE_URL", True),
    ],
)
def test_reads_follows_nested_settings(variable: str, expected: bool) -> None:
    assert reads(ProberSettings, variable) is expected


def test_k8s_config_map_sets_only_variables_some_service_reads() -> None:
    config: dict[str, Any] = yaml.safe_load((ROOT / "deploy/k8s/base/configmap.yaml").read_text())
    readable = set().union(*(known_variables(cls) for cls in SETTINGS.values()))
    assert set(config["data"]) - readable == set()


def test_k8s_containers_set_only_variables_their_service_reads() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize build cannot run here")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy/k8s/base")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for doc in yaml.safe_load_all(rendered):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            readable = known_variables(SETTINGS[container["name"]])
            names = {e["name"] for e in container.get("env", []) if e["name"].startswith("VIGIE_")}
            assert names - readable == set(), f"{doc['metadata']['name']}/{container['name']}"


def test_k8s_base_builds_with_kustomize() -> None:
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
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout)]
    assert sorted(kinds) == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Deployment",
        "Job",
        "Service",
    ]
