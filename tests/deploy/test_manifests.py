"""The deployment files are valid and only set variables the services read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from vigie_common.settings import SHARED_PREFIX, ServiceSettings
from vigie_ingest.settings import IngestSettings
from vigie_notifier.settings import NotifierSettings
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
        service = compose["services"][name]
        assert service["build"]["args"]["PACKAGE"] == f"vigie-{name}"
        unknown = {v for v in service["environment"] if v.startswith("VIGIE_")} - known_variables(
            settings_cls
        )
        assert not unknown, f"{name} does not read {sorted(unknown)}"


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
