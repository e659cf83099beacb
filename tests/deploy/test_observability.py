"""The monitoring shipped in deploy/ is valid and watches metrics the services really export.

Prometheus and Grafana accept a rule or a panel naming a metric nobody exports, and show
nothing: an alert that can never fire. So besides promtool's own checks (config, rules and
the rules' unit tests), every metric name an alert or a panel uses is checked against the
names the services define, collected statically from their source (no service started).

promtool comes from the Debian package ``prometheus``; without it these tests fail, never
skip: a skipped check would let a broken rule file through CI unnoticed.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from vigie_common.db.relay_metrics import RelayMetrics
from vigie_common.kafka.consumer import ConsumerMetrics
from vigie_common.tasks import TaskMetrics
from vigie_ingest.runtime import IngestMetrics
from vigie_notifier.metrics import NotifierMetrics
from vigie_prober.metrics import ProberMetrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
RULES_DIR = PROMETHEUS / "rules"
RULES = RULES_DIR / "vigie.rules.yml"
RULE_TESTS = PROMETHEUS / "tests" / "vigie.rules.test.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
SOURCES = [ROOT / "libs" / "common" / "src", *sorted((ROOT / "services").glob("*/src"))]

DATASOURCE_UID = "prometheus"
SERVICES = {"ingest": 8000, "prober": 9101, "notifier": 9102}
METRIC_TYPES = frozenset({"Counter", "Gauge", "Histogram", "Summary"})
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus makes itself for each target: allowed although no service defines them."""


# ---------------------------------------------------------------------------------- promtool


def promtool() -> str:
    """promtool's path; fails (never skips) when missing, saying how to install it."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is missing: install the Debian package `prometheus` "
            "(apt-get install -y prometheus) to check the monitoring files",
            pytrace=False,
        )
    return path


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool and return what it said, for assertions that show it on failure."""
    return subprocess.run(
        [promtool(), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )


def test_promtool_checks_the_config_with_the_rules(tmp_path: Path) -> None:
    """The config is valid and its rule_files glob really loads the shipped rules.

    The glob points at the container's /etc/prometheus/rules; a copy pointing at a temporary
    copy of deploy/prometheus/rules lets promtool load (and check) the rules through it.
    """
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    config["rule_files"] = [str(rules / "*.yml")]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))

    result = run_promtool("check", "config", str(copy))

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and str(rules / RULES.name) in output, output


def test_config_scrapes_the_three_services_at_their_default_ports() -> None:
    """Compose names and the services' default ports: a wrong one leaves a job always down."""
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    for service, port in SERVICES.items():
        assert targets.get(service) == [f"{service}:{port}"], targets
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert all(jobs[s].get("metrics_path", "/metrics") == "/metrics" for s in SERVICES)


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    """The rule file's own unit tests: each alert fires when it should, and only then."""
    result = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def alerting_rules() -> list[dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_actionable_and_unit_tested() -> None:
    """A ``for:``, a severity, what to look at; and a firing and a quiet case in the tests."""
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    assert all(group["name"].startswith("vigie-") for group in document["groups"])
    tests: dict[str, Any] = yaml.safe_load(RULE_TESTS.read_text())
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no for:"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"].get("summary"), f"{name} has no summary"
        assert rule["annotations"].get("description"), f"{name} has no description"
        assert name in fires, f"no promtool test where {name} fires"
        assert name in quiet, f"no promtool test where {name} stays quiet"


# ---------------------------------------------------------------------------------- Grafana


def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    datasources: dict[str, Any] = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "prometheus")
    assert source["url"] == "http://prometheus:9090"
    providers: dict[str, Any] = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "vigie.yml").read_text()
    )
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards_have_unique_uids_and_titles() -> None:
    assert len(DASHBOARDS) >= 2, DASHBOARDS
    dashboards = [load_dashboard(path) for path in DASHBOARDS]
    uids = [d["uid"] for d in dashboards]
    titles = [d["title"] for d in dashboards]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    for path, dashboard in zip(DASHBOARDS, dashboards, strict=True):
        assert dashboard["uid"] and dashboard["title"], path.name
        assert dashboard["schemaVersion"] >= 36, path.name


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_queries_prometheus(path: Path) -> None:
    """Each panel (rows aside) queries the provisioned datasource; no empty query."""
    dashboard = load_dashboard(path)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate panel ids"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        where = f"{path.name}: panel {panel.get('title')!r}"
        assert panel["type"] in {"timeseries", "stat", "bargauge"}, where
        assert panel["datasource"]["uid"] == DATASOURCE_UID, where
        targets = panel.get("targets", [])
        assert targets, f"{where} has no target"
        for target in targets:
            assert str(target.get("expr", "")).strip(), f"{where} has an empty expr"
            assert target["datasource"]["uid"] == DATASOURCE_UID, where


# ---------------------------------------------------------------------- exported metric names


@dataclass(frozen=True, slots=True)
class Definition:
    """One metric constructor call: its type and name, ``{}`` where a prefix goes."""

    kind: str
    template: str
    owner: str | None
    """The class whose ``__init__`` takes the prefix, when the name has one."""


def module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level string constants (``_PREFIX: Final = "vigie_prober"``)."""
    found: dict[str, str] = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            found[target.id] = value.value
    return found


def local_constants(function: ast.FunctionDef, known: dict[str, str]) -> dict[str, str]:
    """A function's names bound to a string (``p = "vigie_notifier"``, ``p = _PREFIX``)."""
    found = dict(known)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found[target.id] = node.value.value
            elif isinstance(node.value, ast.Name) and node.value.id in found:
                found[target.id] = found[node.value.id]
    return found


def render(node: ast.expr, constants: dict[str, str], parameters: set[str], where: str) -> str:
    """A metric's name, its prefix parameter left as ``{}``; fails on anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
                name = value.value.id
                if name in constants:
                    parts.append(constants[name])
                elif name in parameters:
                    parts.append("{}")
                else:
                    pytest.fail(f"{where}: cannot resolve {{{name}}} in a metric name")
            else:
                pytest.fail(f"{where}: cannot read a metric name: {ast.unparse(node)}")
        return "".join(parts)
    pytest.fail(f"{where}: cannot read a metric name: {ast.unparse(node)}")


def python_files() -> Iterator[Path]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def metric_constructors(tree: ast.Module) -> dict[str, str]:
    """Local name -> prometheus_client type, for the metric types this module imports.

    Only these count: ``collections.Counter`` is no metric.
    """
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
            for alias in node.names:
                if alias.name in METRIC_TYPES:
                    found[alias.asname or alias.name] = alias.name
    return found


def metric_type(node: ast.Call, constructors: dict[str, str]) -> str | None:
    """The prometheus_client type ``node`` builds, or None when it builds no metric."""
    func = node.func
    if isinstance(func, ast.Name):
        return constructors.get(func.id)
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "prometheus_client"
        and func.attr in METRIC_TYPES
    ):
        return func.attr
    return None


def definitions() -> list[Definition]:
    """Every Counter/Gauge/Histogram/Summary built in the services' and libs' source."""
    found: list[Definition] = []
    for path in python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = module_constants(tree)
        constructors = metric_constructors(tree)
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
            body = cls.body if isinstance(cls, ast.ClassDef) else tree.body
            owner = cls.name if isinstance(cls, ast.ClassDef) else None
            for function in [n for n in body if isinstance(n, ast.FunctionDef)]:
                scope = local_constants(function, constants)
                parameters = {a.arg for a in function.args.args + function.args.kwonlyargs}
                for node in ast.walk(function):
                    kind = metric_type(node, constructors) if isinstance(node, ast.Call) else None
                    if kind is None or not isinstance(node, ast.Call):
                        continue
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    named = [k.value for k in node.keywords if k.arg == "name"] + node.args[:1]
                    assert len(named) == 1, f"{where}: a {kind} without a name"
                    template = render(named[0], scope, parameters, where)
                    found.append(Definition(kind, template, owner if "{}" in template else None))
    return found


def worker_names() -> set[str]:
    """``WorkerSpec(name="prober")``: the ``spec.name`` in a ``f"vigie_{spec.name}"`` prefix."""
    names: set[str] = set()
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and callee(node) == "WorkerSpec":
                for keyword in node.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        names.add(str(keyword.value.value))
    return names


def prefixes_of(owners: set[str], workers: set[str]) -> dict[str, set[str]]:
    """The prefixes each metrics class is built with, read from its construction sites."""
    found: dict[str, set[str]] = {owner: set() for owner in owners}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and callee(node) in owners):
                continue
            owner = str(callee(node))
            given = [k.value for k in node.keywords if k.arg == "prefix"] + node.args[1:2]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert len(given) == 1, f"{where}: {owner}(…) without a prefix"
            (prefix,) = given
            if isinstance(prefix, ast.Constant) and isinstance(prefix.value, str):
                found[owner].add(prefix.value)
            elif isinstance(prefix, ast.JoinedStr):
                # f"vigie_{spec.name}": one prefix per worker.
                text = "".join(
                    str(v.value) if isinstance(v, ast.Constant) else "{}" for v in prefix.values
                )
                fields = [v for v in prefix.values if isinstance(v, ast.FormattedValue)]
                is_name = [
                    isinstance(f.value, ast.Attribute) and f.value.attr == "name" for f in fields
                ]
                assert is_name == [True], f"{where}: cannot read the prefix {ast.unparse(prefix)}"
                found[owner] |= {text.format(worker) for worker in workers}
            else:
                pytest.fail(f"{where}: cannot read the prefix {ast.unparse(prefix)}")
    return found


def exported(kind: str, name: str) -> set[str]:
    """The series names prometheus_client exports for one metric."""
    if kind == "Counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "Gauge":
        return {name}
    if kind == "Histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}  # Summary


def known_metrics() -> set[str]:
    """Every series name the services export, read from their source."""
    found = definitions()
    owners = {d.owner for d in found if d.owner is not None}
    prefixes = prefixes_of(owners, worker_names())
    names: set[str] = set()
    for definition in found:
        if definition.owner is None:
            names |= exported(definition.kind, definition.template)
            continue
        assert prefixes[definition.owner], f"{definition.owner} is never built with a prefix"
        for prefix in prefixes[definition.owner]:
            names |= exported(definition.kind, definition.template.format(prefix))
    return names


def recorded_metrics() -> set[str]:
    """Names the shipped recording rules make (``vigie:outbox_backlog:max``)."""
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return {
        rule["record"]
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "atan2", "inf", "nan", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w$.])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    Strings, label matchers, ranges and grouping label lists are dropped first; what is
    left is identifiers, and an identifier followed by ``(`` is a function or an
    aggregation. Grafana variables (``$__rate_interval``) are not identifiers here.
    """
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def unknown_metrics(exprs: Iterable[tuple[str, str]], known: set[str]) -> list[str]:
    """``where: name`` for each metric an expression reads that nobody exports."""
    return sorted(
        {f"{where}: {name}" for where, expr in exprs for name in metric_names(expr) - known}
    )


def used_expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every rule and every dashboard target."""
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            yield f"{RULES.relative_to(ROOT)} ({name})", str(rule["expr"])
    for path in DASHBOARDS:
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                where = f"{path.relative_to(ROOT)} ({panel.get('title')})"
                yield where, str(target.get("expr", ""))


@pytest.fixture(scope="module")
def known() -> set[str]:
    return known_metrics() | recorded_metrics() | PROMETHEUS_OWN


def test_the_tokenizer_reads_metric_names_only() -> None:
    expr = (
        'sum by (source, le) (rate(vigie_ingest_webhooks_total{status=~"5..", x="y z"}[5m]))'
        " / on (source) group_left sum without (instance) (vigie:outbox_backlog:max offset 1h)"
        ' and label_replace(up, "service", "vigie_not_a_metric", "", "") > bool 0.5e3'
        " unless vigie_prober_x[$__rate_interval]"
    )
    assert metric_names(expr) == {
        "vigie_ingest_webhooks_total",
        "vigie:outbox_backlog:max",
        "up",
        "vigie_prober_x",
    }


def test_the_static_collection_matches_what_the_metrics_classes_register(
    known: set[str],
) -> None:
    """Cross-check of the source reading against the real classes, each with its prefix."""
    registry = CollectorRegistry()
    IngestMetrics(registry)
    ProberMetrics(registry)
    NotifierMetrics(registry)
    RelayMetrics(registry, "vigie_ingest")
    for worker in ("prober", "notifier"):
        RelayMetrics(registry, f"vigie_{worker}")
        ConsumerMetrics(registry, f"vigie_{worker}")
        TaskMetrics(registry, f"vigie_{worker}")
    registered: set[str] = set()
    for family in registry.collect():
        kind = {"counter": "Counter", "gauge": "Gauge", "histogram": "Histogram"}[family.type]
        registered |= exported(kind, family.name)
    assert registered <= known, sorted(registered - known)
    assert {
        "vigie_ingest_outbox_backlog",
        "vigie_prober_consumer_lag",
        "vigie_notifier_task_restarts_total",
        "vigie_notifier_gtr_restoration_business_minutes_bucket",
    } <= known


def test_a_made_up_metric_is_reported_unknown(known: set[str]) -> None:
    """The check below is real: a metric nobody exports is named, with where it is used."""
    exprs = [
        ("made-up.json (panel)", "sum(rate(vigie_ingest_made_up_total[5m]))"),
        ("real.json (panel)", "sum(rate(vigie_ingest_webhooks_total[5m]))"),
    ]
    assert unknown_metrics(exprs, known) == ["made-up.json (panel): vigie_ingest_made_up_total"]


def test_rules_and_dashboards_use_only_exported_metrics(known: set[str]) -> None:
    exprs = list(used_expressions())
    assert len(exprs) > 40, "rules and dashboards not found"
    unknown = unknown_metrics(exprs, known)
    assert not unknown, "metrics no service exports:\n" + "\n".join(unknown)
