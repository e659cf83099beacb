"""The kustomize base and overlays build, validate, and keep vigie's deployment promises.

Built-in kinds are validated against the Kubernetes 1.30 schemas that ``kubernetes-validate``
bundles (strict: no unknown field). The custom resources (Strimzi, Prometheus Operator),
which it cannot know, get hand-written structural checks. Every object is checked one way or
the other and listed with how; none is skipped.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from vigie_common.events import topics
from vigie_common.settings import ServiceSettings
from vigie_ingest.settings import IngestSettings
from vigie_notifier.settings import NotifierSettings
from vigie_prober.settings import ProberSettings

from tests.deploy.test_manifests import reads

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
RULES = ROOT / "deploy/prometheus/rules/vigie.rules.yml"
KUBERNETES_VERSION = "1.30.0"
TARGETS = ("base", "overlays/dev", "overlays/prod")
OVERLAYS = ("overlays/dev", "overlays/prod")
NAMESPACES = {"overlays/dev": "vigie-dev", "overlays/prod": "vigie"}
SERVICES = ("ingest", "prober", "notifier")
PORTS = {"ingest": 8000, "prober": 9101, "notifier": 9102}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "prober": ProberSettings,
    "notifier": NotifierSettings,
}
KAFKA_CLUSTER = "vigie"
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

Doc = dict[str, Any]


# --- building ---------------------------------------------------------------------------


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(
            "kubectl is not installed: these tests build deploy/k8s with `kubectl kustomize`; "
            "install kubectl (it bundles kustomize) and run them again"
        )
    return kubectl


@functools.cache
def _build_output(target: str) -> tuple[int, str, str]:
    result = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def _build(target: str) -> list[Doc]:
    code, out, err = _build_output(target)
    assert code == 0, f"kubectl kustomize {target} failed:\n{err}"
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _only(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def _of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- hand-written structural checks of the custom resources -----------------------------

Problems = list[str]


def _require(problems: Problems, condition: bool, message: str) -> None:
    if not condition:
        problems.append(message)


def _is_int(value: Any, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _strimzi_labelled(doc: Doc, problems: Problems) -> None:
    labels = doc["metadata"].get("labels", {})
    _require(
        problems,
        labels.get("strimzi.io/cluster") == KAFKA_CLUSTER,
        f"metadata.labels[strimzi.io/cluster] must be {KAFKA_CLUSTER}",
    )


def _check_kafka(doc: Doc) -> Problems:
    problems: Problems = []
    spec = doc.get("spec", {})
    kafka = spec.get("kafka", {})
    annotations = doc["metadata"].get("annotations", {})
    _require(problems, "zookeeper" not in spec, "spec.zookeeper: vigie runs KRaft")
    _require(
        problems,
        annotations.get("strimzi.io/kraft") == "enabled"
        and annotations.get("strimzi.io/node-pools") == "enabled",
        "KRaft needs the strimzi.io/kraft and strimzi.io/node-pools annotations",
    )
    _require(problems, isinstance(kafka.get("version"), str), "spec.kafka.version: a string")
    listeners = kafka.get("listeners")
    _require(problems, isinstance(listeners, list) and bool(listeners), "spec.kafka.listeners")
    for listener in listeners or []:
        _require(
            problems,
            re.fullmatch(r"[a-z0-9]{1,11}", str(listener.get("name", ""))) is not None,
            f"listener name {listener.get('name')!r}",
        )
        _require(problems, _is_int(listener.get("port"), 9092), f"listener port {listener}")
        _require(
            problems,
            listener.get("type") in {"internal", "cluster-ip", "route", "loadbalancer", "nodeport"},
            f"listener type {listener.get('type')!r}",
        )
        _require(problems, isinstance(listener.get("tls"), bool), "listener tls: a boolean")
        _require(
            problems,
            listener.get("authentication", {}).get("type") in {"scram-sha-512", "tls"},
            f"listener {listener.get('name')} authenticates its clients",
        )
    _require(
        problems,
        kafka.get("authorization", {}).get("type") == "simple",
        "spec.kafka.authorization.type: simple (the KafkaUsers' ACLs)",
    )
    entity = spec.get("entityOperator", {})
    _require(
        problems,
        "topicOperator" in entity and "userOperator" in entity,
        "spec.entityOperator runs the topic and user operators (KafkaTopics, KafkaUsers)",
    )
    return problems


def _check_node_pool(doc: Doc) -> Problems:
    problems: Problems = []
    _strimzi_labelled(doc, problems)
    spec = doc.get("spec", {})
    _require(problems, _is_int(spec.get("replicas")), "spec.replicas ≥ 1")
    roles = spec.get("roles")
    _require(
        problems,
        isinstance(roles, list) and bool(roles) and set(roles) <= {"controller", "broker"},
        f"spec.roles {roles!r}",
    )
    storage = spec.get("storage", {})
    _require(
        problems,
        storage.get("type") in {"jbod", "persistent-claim", "ephemeral"},
        "spec.storage.type",
    )
    for volume in storage.get("volumes", []):
        _require(problems, _is_int(volume.get("id"), 0), f"storage volume id {volume}")
        _require(problems, volume.get("type") in {"persistent-claim", "ephemeral"}, "volume type")
    return problems


def _check_topic(doc: Doc) -> Problems:
    problems: Problems = []
    _strimzi_labelled(doc, problems)
    spec = doc.get("spec", {})
    _require(problems, isinstance(spec.get("topicName"), str), "spec.topicName")
    _require(problems, _is_int(spec.get("partitions")), "spec.partitions ≥ 1")
    _require(problems, _is_int(spec.get("replicas")), "spec.replicas ≥ 1")
    config = spec.get("config", {})
    _require(problems, isinstance(config, dict), "spec.config: a map")
    if _is_int(spec.get("replicas")) and _is_int(config.get("min.insync.replicas")):
        _require(
            problems,
            config["min.insync.replicas"] <= spec["replicas"],
            "min.insync.replicas above the replicas: every acks=all write would fail",
        )
    return problems


ACL_OPERATIONS = {
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
}


def _check_user(doc: Doc) -> Problems:
    problems: Problems = []
    _strimzi_labelled(doc, problems)
    spec = doc.get("spec", {})
    _require(
        problems,
        spec.get("authentication", {}).get("type") in {"scram-sha-512", "tls", "tls-external"},
        "spec.authentication.type",
    )
    authorization = spec.get("authorization", {})
    _require(problems, authorization.get("type") == "simple", "spec.authorization.type: simple")
    acls = authorization.get("acls")
    _require(problems, isinstance(acls, list) and bool(acls), "spec.authorization.acls")
    for acl in acls or []:
        resource = acl.get("resource", {})
        _require(
            problems,
            resource.get("type") in {"topic", "group", "cluster", "transactionalId"},
            f"acl resource type {resource}",
        )
        if resource.get("type") != "cluster":
            _require(problems, isinstance(resource.get("name"), str), f"acl name {resource}")
            _require(problems, resource.get("patternType") in {"literal", "prefix"}, "patternType")
        operations = acl.get("operations")
        _require(
            problems,
            isinstance(operations, list) and bool(operations) and set(operations) <= ACL_OPERATIONS,
            f"acl operations {operations!r}",
        )
    return problems


def _check_service_monitor(doc: Doc) -> Problems:
    problems: Problems = []
    spec = doc.get("spec", {})
    _require(problems, bool(spec.get("selector", {}).get("matchLabels")), "spec.selector")
    endpoints = spec.get("endpoints")
    _require(problems, isinstance(endpoints, list) and bool(endpoints), "spec.endpoints")
    for endpoint in endpoints or []:
        _require(problems, isinstance(endpoint.get("port"), str), "endpoint port: a port name")
        _require(problems, str(endpoint.get("path", "")).startswith("/"), "endpoint path")
        for relabel in endpoint.get("relabelings", []):
            _require(problems, "targetLabel" in relabel, f"relabeling {relabel}")
    return problems


def _check_prometheus_rule(doc: Doc) -> Problems:
    problems: Problems = []
    groups = doc.get("spec", {}).get("groups")
    _require(problems, isinstance(groups, list) and bool(groups), "spec.groups")
    names = [g.get("name") for g in groups or []]
    _require(problems, len(names) == len(set(names)), f"group names repeat: {names}")
    for group in groups or []:
        _require(problems, isinstance(group.get("name"), str), "group name")
        rules = group.get("rules")
        _require(problems, isinstance(rules, list) and bool(rules), f"{group.get('name')}: rules")
        for rule in rules or []:
            _require(
                problems,
                ("record" in rule) != ("alert" in rule),
                f"rule {rule}: exactly one of record, alert",
            )
            _require(problems, isinstance(rule.get("expr"), str), f"rule {rule}: expr")
    return problems


CUSTOM_RESOURCES: dict[tuple[str, str], Callable[[Doc], Problems]] = {
    ("kafka.strimzi.io/v1beta2", "Kafka"): _check_kafka,
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): _check_node_pool,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _check_topic,
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): _check_user,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _check_service_monitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): _check_prometheus_rule,
}


def _check_object(doc: Doc) -> tuple[str, Problems]:
    """How ``doc`` was checked, and what is wrong with it."""
    checker = CUSTOM_RESOURCES.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if checker is not None:
        return "hand-written structural check (custom resource)", checker(doc)
    if doc.get("apiVersion", "").endswith((".strimzi.io/v1beta2", ".coreos.com/v1")) or (
        "." in doc.get("apiVersion", "").split("/")[0]
        and not doc["apiVersion"].split("/")[0].endswith(".k8s.io")
    ):
        return "none", ["a custom resource without a structural check: add one"]
    how = f"kubernetes-validate, Kubernetes {KUBERNETES_VERSION} schema, strict"
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return how, [f"no schema: {exc.message}"]
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        return how, [f"{where}: {exc.message}"]
    return how, []


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_builds(target: str) -> None:
    docs = _build(target)
    assert docs, f"{target} built nothing"
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_every_object_validates(target: str) -> None:
    docs = _build(target)
    report: list[str] = []
    failures: list[str] = []
    for doc in docs:
        name = f"{doc['apiVersion']} {doc['kind']}/{doc['metadata'].get('name')}"
        how, problems = _check_object(doc)
        if DNS_1123_SUBDOMAIN.fullmatch(str(doc["metadata"].get("name", ""))) is None:
            problems.append("metadata.name is not a DNS-1123 subdomain")
        report.append(f"  {name}: {how}: {'; '.join(problems) or 'ok'}")
        failures.extend(f"{name}: {p}" for p in problems)
    assert len(report) == len(docs)
    sys.stdout.write(f"{target}: {len(docs)} objects\n" + "\n".join(report) + "\n")
    assert not failures, "\n".join([*failures, "every object:", *report])


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_overlay_objects(target: str) -> None:
    """The overlays hold every piece the deployment issue asks for."""
    kinds = sorted(d["kind"] for d in _build(target))
    expected = (
        ["ConfigMap"]
        + ["Deployment"] * 3
        + ["HorizontalPodAutoscaler", "Job", "Kafka", "KafkaNodePool"]
        + ["KafkaTopic"] * 2 * len(topics.ALL)
        + ["KafkaUser"] * 3
        + ["NetworkPolicy"] * 8
        + ["PodDisruptionBudget"] * 3
        + ["PrometheusRule"]
        + ["Service"] * 3
        + ["ServiceMonitor"] * 3
    )
    assert kinds == sorted(expected)


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_overlay_namespace(target: str) -> None:
    for doc in _build(target):
        assert doc["metadata"].get("namespace") == NAMESPACES[target], doc["metadata"]


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_no_secret_with_values(target: str) -> None:
    docs = _build(target)
    holding = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))
    ]
    assert not holding, f"Secrets committed with values: {holding}"
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                secretish = any(w in env["name"] for w in ("PASSWORD", "SECRET", "TOKEN", "_URL"))
                if secretish and not env["name"].endswith("_FILE"):
                    assert "value" not in env, f"{doc['metadata']['name']}: {env['name']}"


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_workloads_are_hardened(target: str) -> None:
    docs = _build(target)
    workloads = [d for d in docs if d["kind"] in {"Deployment", "Job"}]
    assert sorted(d["metadata"]["name"] for d in workloads) == [
        "vigie-ingest",
        "vigie-migrate",
        "vigie-notifier",
        "vigie-prober",
    ]
    for doc in workloads:
        name = doc["metadata"]["name"]
        pod = doc["spec"]["template"]["spec"]
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod.get("securityContext", {}).get("runAsNonRoot") is True, name
        assert pod["securityContext"].get("runAsUser", 0) != 0, name
        tmp = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("privileged") is not True, where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp, f"{where}: no emptyDir on /tmp"
            if doc["kind"] == "Deployment":
                resources = container.get("resources", {})
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= resources.get(part, {}).keys(), where
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                service = container["name"]
                assert ports == {"http": PORTS[service]}, where
                assert container["livenessProbe"]["httpGet"]["port"] == "http", where
                assert container["readinessProbe"]["httpGet"]["port"] == "http", where
    prober = _only(docs, "Deployment", "vigie-prober")["spec"]["template"]["spec"]
    assert {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"} in prober[
        "securityContext"
    ].get("sysctls", [])


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_images_are_pinned_to_the_package_versions(target: str) -> None:
    for doc in _build(target):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            name, _, tag = container["image"].rpartition(":")
            package = name.rsplit("/", 1)[-1].removeprefix("vigie-")
            project = tomllib.loads((ROOT / f"services/{package}/pyproject.toml").read_text())
            assert tag == project["project"]["version"], container["image"]


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_variables_are_ones_the_services_read(target: str) -> None:
    docs = _build(target)
    config = _only(docs, "ConfigMap", "vigie-config")["data"]
    unread = {v for v in config if not any(reads(cls, v) for cls in SETTINGS.values())}
    assert unread == set()
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            settings_cls = SETTINGS[container["name"]]
            names = {e["name"] for e in container.get("env", []) if e["name"].startswith("VIGIE_")}
            unread = {name for name in names if not reads(settings_cls, name)}
            assert unread == set(), f"{doc['metadata']['name']}/{container['name']}"


def test_kustomize_replicas_and_budgets_per_overlay() -> None:
    for target, replicas, hpa in (("overlays/dev", 1, (1, 2)), ("overlays/prod", 2, (2, 10))):
        docs = _build(target)
        for service in SERVICES:
            deployment = _only(docs, "Deployment", f"vigie-{service}")
            assert deployment["spec"]["replicas"] == replicas, f"{target} {service}"
            budget = _only(docs, "PodDisruptionBudget", f"vigie-{service}")
            assert budget["spec"]["selector"]["matchLabels"] == {
                "app.kubernetes.io/name": f"vigie-{service}"
            }
            if target == "overlays/prod":
                assert budget["spec"].get("minAvailable") == 1, service
            else:  # one replica: a budget of 1 would block every node drain
                assert budget["spec"].get("maxUnavailable") == 1, service
        autoscaler = _only(docs, "HorizontalPodAutoscaler", "vigie-prober")
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        spec = autoscaler["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "vigie-prober",
        }
        assert (spec["minReplicas"], spec["maxReplicas"]) == hpa, target
        assert [m["resource"]["name"] for m in spec["metrics"] if m["type"] == "Resource"] == [
            "cpu"
        ]
        partitions = _only(docs, "KafkaTopic", "vigie-tickets-v1")["spec"]["partitions"]
        assert partitions >= spec["maxReplicas"], "idle probers: fewer partitions than replicas"


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression["values"]
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
    return True


def _in_documentation_range(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr)
    return any(network.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_network_policies(target: str) -> None:
    docs = _build(target)
    policies = _of_kind(docs, "NetworkPolicy")
    deny = policies["vigie-default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    }
    for pod, labels in pods.items():
        own = [
            name
            for name, policy in policies.items()
            if policy["spec"]["podSelector"] and _selects(policy["spec"]["podSelector"], labels)
        ]
        assert own, f"no NetworkPolicy of its own selects {pod}"
        egress = [
            rule
            for name in own
            for rule in policies[name]["spec"].get("egress", [])
            if "Egress" in policies[name]["spec"]["policyTypes"]
        ]
        for rule in egress:  # never "anywhere": each rule names its peers
            assert rule.get("to"), f"{pod}: an egress rule open to every destination"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert peer["ipBlock"]["cidr"] not in {"0.0.0.0/0", "::/0"}, pod
    # ingest: reachable from anywhere on its port, and on it only
    (rule,) = policies["vigie-ingest"]["spec"]["ingress"]
    assert "from" not in rule
    assert rule["ports"] == [{"protocol": "TCP", "port": PORTS["ingest"]}]
    # the other services: only Prometheus, on their port
    for service in ("prober", "notifier"):
        for rule in policies[f"vigie-{service}"]["spec"]["ingress"]:
            assert rule["from"], service
            assert rule["ports"] == [{"protocol": "TCP", "port": PORTS[service]}]
    # the prober's own egress: SSH and (portless: ICMP) to the routers' networks only
    ssh, icmp = policies["vigie-prober"]["spec"]["egress"]
    assert ssh["ports"] == [{"protocol": "TCP", "port": 22}]
    assert "ports" not in icmp
    for rule in (ssh, icmp):
        cidrs = [peer["ipBlock"]["cidr"] for peer in rule["to"]]
        assert cidrs and all(set(peer) == {"ipBlock"} for peer in rule["to"])
        if target == "overlays/dev":
            assert all(_in_documentation_range(c) for c in cidrs), cidrs
    # Kafka and PostgreSQL are the other egress every service has (DNS for every pod)
    kafka = policies["vigie-kafka-clients"]["spec"]["egress"]
    assert kafka == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "strimzi.io/cluster": KAFKA_CLUSTER,
                            "strimzi.io/kind": "Kafka",
                        }
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9092}, {"protocol": "TCP", "port": 9093}],
        }
    ]
    (postgresql,) = policies["vigie-postgresql-clients"]["spec"]["egress"]
    assert postgresql["ports"] == [{"protocol": "TCP", "port": 5432}]
    for service in SERVICES:
        labels = pods[f"vigie-{service}"]
        for name in ("vigie-kafka-clients", "vigie-postgresql-clients"):
            assert _selects(policies[name]["spec"]["podSelector"], labels), (name, service)
    assert _selects(
        policies["vigie-postgresql-clients"]["spec"]["podSelector"], pods["vigie-migrate"]
    )
    (dns,) = policies["vigie-allow-dns"]["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_kafka_topics_users_and_client_settings(target: str) -> None:
    docs = _build(target)
    kafka = _only(docs, "Kafka", KAFKA_CLUSTER)
    expected = {*topics.ALL, *(topics.dead_letter(t) for t in topics.ALL)}
    names = {d["spec"]["topicName"] for d in _of_kind(docs, "KafkaTopic").values()}
    assert names == expected
    config = _only(docs, "ConfigMap", "vigie-config")["data"]
    host, _, port = config["VIGIE_KAFKA_BOOTSTRAP_SERVERS"].partition(":")
    assert host == f"{KAFKA_CLUSTER}-kafka-bootstrap"
    (listener,) = [lst for lst in kafka["spec"]["kafka"]["listeners"] if str(lst["port"]) == port]
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert config["VIGIE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    protocol = config["VIGIE_KAFKA_SECURITY_PROTOCOL"]
    assert protocol == ("SASL_SSL" if listener["tls"] else "SASL_PLAINTEXT")
    if target == "overlays/prod":
        assert protocol == "SASL_SSL"
        assert all(lst["tls"] for lst in kafka["spec"]["kafka"]["listeners"])
    users = _of_kind(docs, "KafkaUser")
    assert set(users) == {f"vigie-{s}" for s in SERVICES}
    for service in SERVICES:
        pod = _only(docs, "Deployment", f"vigie-{service}")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        user = env["VIGIE_KAFKA_SASL_USERNAME"]["value"]
        assert user == f"vigie-{service}" and user in users
        password_file = Path(env["VIGIE_KAFKA_SASL_PASSWORD_FILE"]["value"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        secret = volumes[mounts[str(password_file.parent)]]["secret"]
        assert secret["secretName"] == user, "the KafkaUser's Secret, made by Strimzi"
        assert {"key": "password", "path": password_file.name} in secret["items"]
        if protocol == "SASL_SSL":
            ca = Path(config["VIGIE_KAFKA_SSL_CAFILE"])
            ca_secret = volumes[mounts[str(ca.parent)]]["secret"]
            assert ca_secret["secretName"] == f"{KAFKA_CLUSTER}-cluster-ca-cert"
            assert {"key": "ca.crt", "path": ca.name} in ca_secret["items"]
    for user in users.values():
        for acl in user["spec"]["authorization"]["acls"]:
            if acl["resource"]["type"] == "topic":
                assert acl["resource"]["name"] in expected, acl


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_service_monitors_scrape_every_service(target: str) -> None:
    docs = _build(target)
    services = _of_kind(docs, "Service")
    monitors = _of_kind(docs, "ServiceMonitor")
    for service in SERVICES:
        monitor = monitors[f"vigie-{service}"]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        (matched,) = [
            s
            for s in services.values()
            if _selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        assert endpoint["port"] in {p["name"] for p in matched["spec"]["ports"]}
        assert matched["spec"]["selector"] == {"app.kubernetes.io/name": f"vigie-{service}"}
        # the rules (deploy/prometheus/rules) name the targets' job as compose does
        assert {"action": "replace", "targetLabel": "job", "replacement": service} in endpoint[
            "relabelings"
        ]


@pytest.mark.parametrize("target", OVERLAYS)
def test_kustomize_prometheus_rule_holds_the_compose_rules(target: str) -> None:
    assert RULES.exists(), f"{RULES} is missing"
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rule = _only(_build(target), "PrometheusRule", "vigie")
    assert rule["spec"]["groups"] == groups, (
        "deploy/k8s/components/platform/prometheus-rule.yaml differs from "
        f"{RULES.relative_to(ROOT)}: refresh it with the command in its header"
    )
