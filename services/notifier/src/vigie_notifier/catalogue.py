"""The template catalogue: which codes exist, what each is for, which fields and files it uses.

Its errors (their tree is in ``rendering.py``) name the template, the file and the field.
The packaged catalogue (``templates/`` beside this module) is merged with an operator's
folder: its ``catalogue.yaml`` entries replace packaged ones code by code, and its files
(partials such as ``_signature.txt.j2`` included) are found before the packaged ones.
Everything is checked when loaded, so a wrong template stops the service at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import jinja2
import yaml
from jinja2 import meta, nodes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigie_notifier.context import AMBIENT, known_field
from vigie_notifier.forms import Channel
from vigie_notifier.rendering import (
    CatalogueError,
    CatalogueUnreadable,
    InvalidEntry,
    MissingTemplateFile,
    TemplateSyntaxInvalid,
    UndeclaredField,
    UnknownTemplate,
    make_environment,
)

__all__ = [
    "CATALOGUE_FILE",
    "PACKAGED",
    "PARTS",
    "TEAM_CODES",
    "Audience",
    "Catalogue",
    "CatalogueError",
    "CatalogueUnreadable",
    "InvalidEntry",
    "MissingTemplateFile",
    "Part",
    "TemplateSpec",
    "TemplateSyntaxInvalid",
    "UndeclaredField",
    "UnknownTemplate",
    "code_label",
    "load_catalogue",
    "normalise_code",
]

PACKAGED: Final = Path(__file__).with_name("templates")
CATALOGUE_FILE: Final = "catalogue.yaml"
DEFAULT_SUBJECT: Final = "{{ headers.mail_subject }}"

Audience = Literal["customer", "field", "support", "internal"]
Part = Literal["text", "html", "sms"]
Origin = Literal["packaged", "extra"]
PARTS: Final[Mapping[Channel, tuple[Part, ...]]] = {
    Channel.MAIL: ("text", "html"),
    Channel.SMS: ("sms",),
}
_SUFFIX: Final[Mapping[Part, str]] = {
    "text": ".mail.txt.j2",
    "html": ".mail.html.j2",
    "sms": ".sms.txt.j2",
}
TEAM_CODES: Final = (
    *(f"CLT{n}" for n in (0, 2, 3, 4, 5, 6, 7)),
    *(f"A{n}" for n in (0, 1, 2, 3, 4, 6, 8, 11, 12, 13, 14)),
    *(f"E{n}" for n in range(15)),
)
"""The team's rows (design §1): CLT to the customer, INT interventions, EDS escalations."""

_CODE: Final = re.compile(
    r"\s*(?:(CLT)[\s_-]*(\d+)|(?:INT[\s_-]*)?(A)[\s_-]*(\d+)|(?:EDS[\s_-]*)?(E)[\s_-]*(\d+))\s*",
    re.IGNORECASE,
)
_FIELD: Final = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*")


def normalise_code(text: str) -> str:
    """``CLT 5``, ``clt5``, ``INT A0``, ``EDS-E1`` → ``CLT5``, ``A0``, ``E1``.

    Raises:
        ValueError: Not a code of the CLT, INT or EDS rows.
    """
    found = _CODE.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a CLT n, INT An or EDS En code")
    letters = [group for group in found.groups() if group is not None]
    return f"{letters[0].upper()}{int(letters[1])}"


def code_label(code: str) -> str:
    """The team's spelling: ``CLT 5``, ``INT A0``, ``EDS E1``."""
    normal = normalise_code(code)
    if normal.startswith("CLT"):
        return f"CLT {normal.removeprefix('CLT')}"
    return f"{'INT' if normal.startswith('A') else 'EDS'} {normal}"


@dataclass(frozen=True)
class TemplateSpec:
    """A catalogue entry and the folder its files are in."""

    code: str
    purpose: str
    audience: Audience
    channels: frozenset[Channel]
    subject: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    origin: Origin
    folder: Path

    @property
    def label(self) -> str:
        """The code as the team writes it."""
        return code_label(self.code)

    @property
    def parts(self) -> tuple[Part, ...]:
        """The files its channels need, mail text and HTML first."""
        return tuple(p for channel in Channel if channel in self.channels for p in PARTS[channel])

    def file_name(self, part: Part) -> str:
        """``clt5.mail.txt.j2`` and the like."""
        return f"{self.code.lower()}{_SUFFIX[part]}"

    def template_name(self, part: Part) -> str:
        """The name the Jinja loader knows the file by (its folder first)."""
        return f"{self.origin}:{self.file_name(part)}"


class Catalogue:
    """The checked catalogue: entries by code, and the sandboxed environment that renders them.

    Built by :func:`load_catalogue`, which has compiled every file and subject already.
    """

    def __init__(self, specs: Mapping[str, TemplateSpec], folders: Mapping[Origin, Path]) -> None:
        self.specs: Mapping[str, TemplateSpec] = MappingProxyType(dict(specs))
        self.folders: Mapping[Origin, Path] = MappingProxyType(dict(folders))
        bare = [jinja2.FileSystemLoader(folders[o]) for o in ("extra", "packaged") if o in folders]
        prefixed: dict[str, jinja2.BaseLoader] = {
            origin: jinja2.FileSystemLoader(path) for origin, path in folders.items()
        }
        loader = jinja2.ChoiceLoader([jinja2.PrefixLoader(prefixed, delimiter=":"), *bare])
        self.environment: jinja2.Environment = make_environment(loader)
        self.subjects: dict[str, jinja2.Template] = {}

    def get(self, code: str) -> TemplateSpec:
        """The entry for a code in any spelling (``CLT 5``, ``clt5``).

        Raises:
            UnknownTemplate: No entry for it, or not a code at all.
        """
        try:
            return self.specs[normalise_code(code)]
        except (ValueError, KeyError):
            raise UnknownTemplate(code) from None

    def __iter__(self) -> Iterator[TemplateSpec]:
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: str = Field(min_length=1)
    audience: Audience
    channels: frozenset[Channel] = Field(min_length=1)
    subject: str = Field(default=DEFAULT_SUBJECT, min_length=1)
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    templates: dict[str, _Entry]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a catalogue must not."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for index, key in enumerate(keys):
            if key in keys[:index]:
                mark = node.value[index][0].start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        return super().construct_mapping(node, deep=deep)


def _read(folder: Path, origin: Origin) -> dict[str, TemplateSpec]:
    """The entries of one folder's catalogue.yaml, checked for shape and declared fields."""
    path = folder / CATALOGUE_FILE
    if not folder.is_dir():
        raise CatalogueUnreadable("not a folder", file=folder)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except FileNotFoundError:
        raise CatalogueUnreadable(f"no {CATALOGUE_FILE} in the folder", file=path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CatalogueUnreadable(f"invalid YAML: {where}{exc.problem}", file=path) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogueUnreadable(f"unreadable: {' '.join(str(exc).split())}", file=path) from None
    try:
        parsed = _File.model_validate(document)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        code = str(problem["loc"][1]) if len(problem["loc"]) > 1 else None
        raise InvalidEntry(f"{where}: {problem['msg']}", template=code, file=path) from None
    specs: dict[str, TemplateSpec] = {}
    for key, entry in parsed.templates.items():
        try:
            code = normalise_code(key)
        except ValueError as exc:
            raise InvalidEntry(str(exc), template=key, file=path) from None
        if code in specs:
            raise InvalidEntry("the same code twice in one file", template=code, file=path)
        for field in (*entry.required, *entry.optional):
            if not _FIELD.fullmatch(field) or not known_field(field):
                raise InvalidEntry(
                    "no such field in the context", template=code, file=path, field=field
                )
        if overlap := set(entry.required) & set(entry.optional):
            raise InvalidEntry(
                "both required and optional", template=code, file=path, field=min(overlap)
            )
        specs[code] = TemplateSpec(code=code, origin=origin, folder=folder, **dict(entry))
    return specs


def _chain(node: nodes.Node) -> tuple[list[str], nodes.Node]:
    """``a.b["c"]`` as (["b", "c"], Name a): the attribute path and the node it starts from."""
    names: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
            node = node.node
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            names.append(node.arg.value)
            node = node.node
        else:
            return names[::-1], node


def _paths(node: nodes.Node, roots: frozenset[str]) -> Iterator[str]:
    """Every ``root.attr.attr`` a template reads from the context."""
    names, base = _chain(node)
    if isinstance(base, nodes.Name) and base.name in roots and base.ctx == "load":
        yield ".".join([base.name, *names])
    elif names:
        yield from _paths(base, roots)
    else:
        for child in node.iter_child_nodes():
            yield from _paths(child, roots)


def _imported(tree: nodes.Template) -> set[str]:
    """Names bound by imports: Jinja's analysis misses those a child template's blocks use."""
    names = {node.target for node in tree.find_all(nodes.Import)}
    for node in tree.find_all(nodes.FromImport):
        names.update(name if isinstance(name, str) else name[1] for name in node.names)
    return names


def _used(
    env: jinja2.Environment, spec: TemplateSpec, name: str, seen: set[str]
) -> Iterator[tuple[str, str]]:
    """(field, file) for a file and the files it includes, imports or extends."""
    try:
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except jinja2.TemplateNotFound:
        raise MissingTemplateFile("no such file", template=spec.code, file=name) from None
    try:
        tree = env.parse(source, name, filename)
        undeclared = meta.find_undeclared_variables(tree)  # compiles: unknown filters fail here
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxInvalid(
            f"line {exc.lineno}: {exc.message}", template=spec.code, file=filename
        ) from None
    roots = frozenset(undeclared - env.globals.keys() - _imported(tree))
    for path in _paths(tree, roots):
        yield path, filename or name
    for included in meta.find_referenced_templates(tree):
        if included is None:
            raise TemplateSyntaxInvalid(
                "a computed include cannot be checked", template=spec.code, file=filename
            )
        if included not in seen:
            seen.add(included)
            yield from _used(env, spec, included, seen)


def _covered(field: str, declared: tuple[str, ...]) -> bool:
    """Declared itself, below a declared field, or a parent of one (``{% if verdict %}``)."""
    root = field.split(".", 1)[0]
    return root in AMBIENT or any(
        field == d or field.startswith(d + ".") or d.startswith(field + ".") for d in declared
    )


def _check_fields(spec: TemplateSpec, used: Iterable[tuple[str, str | Path]], what: str) -> None:
    """Raise for the first field used but declared neither required nor optional."""
    declared = spec.required + spec.optional
    for field, file in used:
        if not _covered(field, declared):
            raise UndeclaredField(
                f"{what} but not declared", template=spec.code, file=file, field=field
            )


def _check(env: jinja2.Environment, spec: TemplateSpec) -> jinja2.Template:
    """Every file present and parsable, every field it uses declared; the compiled subject."""
    for part in spec.parts:
        path = spec.folder / spec.file_name(part)
        if not path.is_file():
            needs = f"the {part} part of channel(s) {', '.join(sorted(spec.channels))} needs it"
            raise MissingTemplateFile(needs, template=spec.code, file=path)
        _check_fields(spec, _used(env, spec, spec.template_name(part), set()), "used")
    catalogue_file = spec.folder / CATALOGUE_FILE
    try:
        tree = env.parse(spec.subject)
        roots = frozenset(meta.find_undeclared_variables(tree))
        subject = env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxInvalid(
            f"subject: {exc.message}", template=spec.code, file=catalogue_file
        ) from None
    fields = _paths(tree, roots)
    _check_fields(spec, ((field, catalogue_file) for field in fields), "used in the subject")
    return subject


def _compile(env: jinja2.Environment) -> None:
    """Compile every file of the folders, partials too: an unknown filter fails now."""
    for name in env.list_templates(filter_func=lambda name: name.endswith(".j2")):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntaxInvalid(
                f"line {exc.lineno}: {exc.message}", file=exc.filename or name
            ) from None


def load_catalogue(extra: Path | None = None) -> Catalogue:
    """The packaged catalogue, with ``extra``'s entries replacing or adding codes; all checked.

    Raises:
        CatalogueError: The first problem found, naming its template, file and field.
    """
    folders: dict[Origin, Path] = {"packaged": PACKAGED}
    specs = _read(PACKAGED, "packaged")
    if extra is not None:
        folders["extra"] = extra
        specs.update(_read(extra, "extra"))
    catalogue = Catalogue(specs, folders)
    for spec in catalogue:
        catalogue.subjects[spec.code] = _check(catalogue.environment, spec)
    _compile(catalogue.environment)
    return catalogue
