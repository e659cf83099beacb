"""``vigie-notifier render <code> --ticket FILE [--form FILE] [--verdict FILE]``: a preview.

The service's own path (catalogue loaded and checked, context built, sandboxed render), run
on files, so a technician or an operator writing a template sees exactly what would be sent.
Exit 0 with the rendering on stdout; exit 1 with one line on stderr for a bad file or
template. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final, TextIO, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from vigie_common.events.probes import VerdictReached
from vigie_common.events.tickets import CanonicalTicket

from vigie_notifier.catalogue import load_catalogue
from vigie_notifier.context import DEFAULT_ZONE, build_context
from vigie_notifier.forms import CustomerInformation
from vigie_notifier.rendering import Rendered, Renderer, TemplateError
from vigie_notifier.sms import split

__all__ = ["DEFAULT_OPERATOR", "PARTS", "add_arguments", "run_render"]

PROG: Final = "vigie-notifier render"
DEFAULT_OPERATOR: Final = "VIGIE"
PARTS: Final = ("all", "subject", "text", "html", "sms")
_Model = TypeVar("_Model", bound=BaseModel)


class _BadFile(Exception):
    """A file given on the command line cannot be used; the message names it."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``render`` command's arguments, for the notifier's command line."""
    parser.add_argument("code", help="template code: CLT5, 'CLT 5', A0, 'INT A0', E1…")
    parser.add_argument(
        "--ticket",
        type=Path,
        required=True,
        metavar="FILE",
        help="the canonical ticket, JSON (or the ticket event or CloudEvent carrying it)",
    )
    parser.add_argument(
        "--form", type=Path, metavar="FILE", help="customer-information form, JSON or YAML"
    )
    parser.add_argument(
        "--verdict", type=Path, metavar="FILE", help="the verdict, JSON (or its CloudEvent)"
    )
    parser.add_argument(
        "--gtr", type=Path, metavar="FILE", help="GTR figures: a JSON object (deadline, …)"
    )
    parser.add_argument("--operator", help="operator name in the headers")
    parser.add_argument(
        "--templates", type=Path, metavar="DIR", help="operator folder with a catalogue.yaml"
    )
    parser.add_argument("--zone", help="IANA zone of the dates when the ticket's sites give none")
    parser.add_argument("--part", choices=PARTS, default="all", help="print only this part")


def _document(path: Path, option: str) -> Any:
    """A JSON file, or YAML for .yaml/.yml."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in {".yaml", ".yml"}:
            return yaml.safe_load(text)
        return json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise _BadFile(f"{option} {path}: unreadable: {exc}") from None


def _unwrap(document: Any, *keys: str) -> Any:
    """The payload inside a CloudEvent (``data``) or an event (``ticket``), else itself."""
    for key in keys:
        if isinstance(document, dict) and isinstance(document.get(key), dict):
            document = document[key]
    return document


def _model(model: type[_Model], path: Path, option: str, *keys: str) -> _Model:
    try:
        return model.model_validate(_unwrap(_document(path, option), *keys))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or '(root)'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise _BadFile(f"{option} {path}: {problems}{more}") from None


def _gtr(path: Path | None) -> dict[str, object] | None:
    if path is None:
        return None
    document = _document(path, "--gtr")
    if not isinstance(document, dict):
        raise _BadFile(f"--gtr {path}: expected a JSON object")
    return document


def _write(rendered: Rendered, part: str, stdout: TextIO) -> str | None:
    """Print the asked part(s); the name of a part the template lacks, else None."""
    parts = {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
    parts["sms"] = rendered.sms
    if part != "all":
        value = parts[part]
        if value is None:
            return part
        stdout.write(value if value.endswith("\n") else value + "\n")
        return None
    if rendered.subject is not None:
        stdout.write(f"Subject: {rendered.subject}\n")
    for name in ("text", "html"):
        if (value := parts[name]) is not None:
            stdout.write(f"--- {name} ---\n{value}")
    if rendered.sms is not None:
        cut = split(rendered.sms)
        unit = "septets" if cut.encoding == "GSM-7" else "UTF-16 units"
        count = f"{cut.count} segment{'s' if cut.count > 1 else ''}"
        stdout.write(f"--- sms ({cut.encoding}, {count}, {cut.units} {unit}) ---\n")
        stdout.write(rendered.sms + "\n")
    return None


def run_render(
    args: argparse.Namespace,
    *,
    stdout: TextIO,
    stderr: TextIO,
    operator: str = DEFAULT_OPERATOR,
    templates: Path | None = None,
    default_zone: str = DEFAULT_ZONE,
) -> int:
    """Render one template from files; 0 on success, 1 with one line on stderr.

    ``operator``, ``templates`` and ``default_zone`` are the service's settings; the
    ``--operator``, ``--templates`` and ``--zone`` options override them.
    """
    try:
        renderer = Renderer(load_catalogue(args.templates or templates))
        ticket = _model(CanonicalTicket, args.ticket, "--ticket", "data", "ticket")
        verdict = None
        if args.verdict is not None:
            verdict = _model(VerdictReached, args.verdict, "--verdict", "data")
        form = None
        if args.form is not None:
            form = _model(CustomerInformation, args.form, "--form")
        context = build_context(
            ticket,
            operator=args.operator or operator,
            verdict=verdict,
            form=form,
            gtr=_gtr(args.gtr),
            default_zone=args.zone or default_zone,
        )
        rendered = renderer.render(args.code, context)
    except (_BadFile, TemplateError, ValueError, LookupError) as exc:
        stderr.write(f"{PROG}: {exc}\n")
        return 1
    missing = _write(rendered, args.part, stdout)
    if missing is not None:
        channels = ", ".join(sorted(renderer.catalogue.get(args.code).channels))
        stderr.write(f"{PROG}: template {rendered.code} has no {missing} part ({channels})\n")
        return 1
    return 0
