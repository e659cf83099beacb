"""Rendering: the sandboxed Jinja environment, French date filters, and ``render(code, ctx)``.

Errors::

    TemplateError
    ├── CatalogueError          at start-up; names the template, the file and the field
    │   ├── CatalogueUnreadable     a folder or catalogue.yaml missing, bad YAML
    │   ├── InvalidEntry            an entry's shape, an unknown code or field
    │   ├── MissingTemplateFile     a channel's file (or an included one) is absent
    │   ├── TemplateSyntaxInvalid   Jinja refuses a file (syntax, unknown filter)
    │   └── UndeclaredField         a file uses a field its entry does not declare
    ├── UnknownTemplate         no template for that code
    ├── MissingField            a required field is absent from the context
    └── RenderFailed            Jinja stopped while rendering

Operators drop templates in, so templates run in Jinja's immutable sandbox; undefined names
fail (``StrictUndefined``) rather than print nothing, and a ``None`` printed fails too, so a
customer never reads "None". HTML parts are autoescaped; text and SMS parts print text as
given, and the subject is folded to one line whatever its fields hold.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

import jinja2
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from vigie_notifier.headers import single_line

if TYPE_CHECKING:  # catalogue.py imports this module for its environment
    from vigie_notifier.catalogue import Catalogue, Part, TemplateSpec

__all__ = [
    "CatalogueError",
    "CatalogueUnreadable",
    "InvalidEntry",
    "MissingField",
    "MissingTemplateFile",
    "RenderFailed",
    "Rendered",
    "Renderer",
    "TemplateError",
    "TemplateSyntaxInvalid",
    "UndeclaredField",
    "UnknownTemplate",
    "count_fr",
    "duration_fr",
    "load_renderer",
    "long_date_fr",
    "make_environment",
    "render",
]

DAYS: Final = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS: Final = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
_BLANK_RUNS: Final = re.compile(r"\n{3,}")


class TemplateError(Exception):
    """Base of the notifier's template errors (the tree is in this module's docstring)."""


class CatalogueError(TemplateError):
    """The catalogue cannot be used; says which template, file and field, when known."""

    def __init__(
        self,
        detail: str,
        *,
        template: str | None = None,
        file: Path | str | None = None,
        field: str | None = None,
    ) -> None:
        self.detail, self.template, self.file, self.field = detail, template, file, field
        where = [
            f"{label} {value}"
            for label, value in (("template", template), ("file", file), ("field", field))
            if value is not None
        ]
        super().__init__(": ".join([*where, detail]))


class CatalogueUnreadable(CatalogueError):
    """A folder or its catalogue.yaml is missing, or the YAML does not parse."""


class InvalidEntry(CatalogueError):
    """An entry is misshapen, or names an unknown code, channel or field."""


class MissingTemplateFile(CatalogueError):
    """A file the entry's channels need (or one a template includes) does not exist."""


class TemplateSyntaxInvalid(CatalogueError):
    """Jinja cannot parse or compile a file."""


class UndeclaredField(CatalogueError):
    """A file uses a field its entry does not declare (required or optional)."""


class UnknownTemplate(TemplateError, LookupError):
    """No template has this code."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"no template for code {code!r}")


class MissingField(TemplateError):
    """A field the template requires is absent or empty in the context."""

    def __init__(self, template: str, field: str) -> None:
        self.template, self.field = template, field
        super().__init__(f"template {template}: field {field}: required but missing or empty")


class RenderFailed(TemplateError):
    """Jinja stopped on a file: an undefined name, a refused operation, a bad value."""

    def __init__(self, template: str, file: str, detail: str) -> None:
        self.template, self.file, self.detail = template, file, detail
        super().__init__(f"template {template}: file {file}: {detail}")


@dataclass(frozen=True)
class Rendered:
    """A template rendered for its channels; a part its channels do not use is None."""

    code: str
    subject: str | None
    text: str | None
    html: str | None
    sms: str | None


def _instant(value: object) -> datetime | date:
    """An aware datetime (or an ISO string of one), or a date; a naive time has no zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: its zone is unknown")
        return value
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def _local(context: Context, value: object) -> datetime | date:
    moment = _instant(value)
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(str(context.resolve("zone"))))
    return moment


@jinja2.pass_context
def _date_fr(context: Context, value: object) -> str:
    """``16/06/2025 à 16:10`` in the site's zone (seconds are dropped, not rounded)."""
    moment = _local(context, value)
    day = f"{moment:%d/%m/%Y}"
    return f"{day} à {moment:%H:%M}" if isinstance(moment, datetime) else day


@jinja2.pass_context
def _day_fr(context: Context, value: object) -> str:
    """``16/06/2025`` in the site's zone."""
    return f"{_local(context, value):%d/%m/%Y}"


@jinja2.pass_context
def _time_fr(context: Context, value: object) -> str:
    """``16:10`` in the site's zone."""
    moment = _local(context, value)
    if not isinstance(moment, datetime):
        raise TypeError("time_fr needs a datetime")
    return f"{moment:%H:%M}"


def long_date_fr(moment: date) -> str:
    """``lundi 16 juin 2025`` (``1er`` for the first of the month)."""
    day = "1er" if moment.day == 1 else str(moment.day)
    return f"{DAYS[moment.weekday()]} {day} {MONTHS[moment.month - 1]} {moment.year}"


@jinja2.pass_context
def _long_date_fr(context: Context, value: object) -> str:
    return long_date_fr(_local(context, value))


def duration_fr(value: object) -> str:
    """A timedelta or a number of minutes as ``2 h 05 min``, ``45 min``, ``- 15 min``."""
    if isinstance(value, timedelta):
        minutes = int(value.total_seconds() // 60)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        minutes = int(value)
    else:
        raise TypeError(f"expected a duration or minutes, got {type(value).__name__}")
    sign, minutes = ("- ", -minutes) if minutes < 0 else ("", minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days} j {hours} h {mins:02d} min"
    return f"{sign}{hours} h {mins:02d} min" if hours else f"{sign}{mins} min"


def count_fr(number: int, word: str, plural: str | None = None) -> str:
    """``0 bagot``, ``1 bagot``, ``3 bagots``: French keeps 0 and 1 singular."""
    return f"{number} {word if abs(number) < 2 else plural or word + 's'}"


@jinja2.pass_eval_context
def _nl2br(eval_ctx: EvalContext, value: object) -> str | Markup:
    """Line breaks as ``<br>`` in HTML, after escaping the text itself."""
    if not eval_ctx.autoescape:
        return str(value)
    return Markup("<br>\n").join(escape(line) for line in str(value).split("\n"))


def _finalize(value: object) -> object:
    """Refuse to print None: a template must guard an optional field, never show "None"."""
    if value is None:
        raise ValueError("a value printed is None: guard the optional field with {% if %}")
    return value


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".html"))


def make_environment(loader: jinja2.BaseLoader) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment every template renders in, with the French filters."""
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        date_fr=_date_fr,
        day_fr=_day_fr,
        time_fr=_time_fr,
        long_date_fr=_long_date_fr,
        duration_fr=duration_fr,
        count_fr=count_fr,
        nl2br=_nl2br,
    )
    return env


def _present(context: Mapping[str, object], path: str) -> bool:
    """Whether ``a.b.c`` resolves to something not None and not empty."""
    value: object = context
    for name in path.split("."):
        value = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
        if value is None:
            return False
    return not (isinstance(value, str | tuple | list | Mapping) and len(value) == 0)


def _tidy(text: str, *, end: str) -> str:
    """Trailing spaces off, at most one blank line in a row, ``end`` after the last line."""
    lines = "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))
    return _BLANK_RUNS.sub("\n\n", lines).strip() + end


class Renderer:
    """Renders a loaded catalogue's templates (:func:`vigie_notifier.catalogue.load_catalogue`)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def _part(self, spec: TemplateSpec, part: Part, context: Mapping[str, object]) -> str | None:
        if part not in spec.parts:
            return None
        template = self.catalogue.environment.get_template(spec.template_name(part))
        try:
            output = template.render(context)
        except (jinja2.TemplateError, ValueError, TypeError, LookupError, AttributeError) as exc:
            raise RenderFailed(spec.code, spec.file_name(part), str(exc)) from exc
        if part == "html":
            return output.strip() + "\n"
        return _tidy(output, end="\n" if part == "text" else "")

    def render(self, code: str, context: Mapping[str, object]) -> Rendered:
        """Render a template's parts for its channels from a context (see ``context.py``).

        Raises:
            UnknownTemplate: No template has this code.
            MissingField: A required field is absent or empty.
            RenderFailed: Jinja stopped (undefined name, sandbox refusal, bad value).
        """
        spec = self.catalogue.get(code)
        for field in spec.required:
            if not _present(context, field):
                raise MissingField(spec.code, field)
        subject = None
        if "text" in spec.parts:
            try:
                subject = single_line(self.catalogue.subjects[spec.code].render(context))
            except (jinja2.TemplateError, ValueError, TypeError, LookupError) as exc:
                raise RenderFailed(spec.code, "catalogue.yaml (subject)", str(exc)) from exc
        return Rendered(
            code=spec.code,
            subject=subject,
            text=self._part(spec, "text", context),
            html=self._part(spec, "html", context),
            sms=self._part(spec, "sms", context),
        )


def load_renderer(extra: Path | None = None) -> Renderer:
    """The start-up call: load, check and compile the catalogue (plus ``extra``).

    Raises:
        CatalogueError: The first problem found, naming its template, file and field.
    """
    from vigie_notifier.catalogue import load_catalogue  # here: catalogue imports this module

    return Renderer(load_catalogue(extra))


@functools.cache
def _packaged() -> Renderer:
    return load_renderer()


def render(code: str, context: Mapping[str, object]) -> Rendered:
    """Render with the packaged catalogue, loaded on first use (the service holds a Renderer)."""
    return _packaged().render(code, context)
