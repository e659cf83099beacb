"""YAML read with line numbers: the composed nodes, walked with every mistake a problem.

PyYAML's composer keeps each node's position, so every value, key and list is placed on its
line. The walk refuses what would make an operator's file mean something other than it
seems: unknown keys (a typo would be silently ignored), duplicate keys (the last would win),
and aliases (``*name``: one value in several places, and a way to blow a walk up). It never
builds Python objects from tags, so a file cannot run code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigie_common.imports.entries import RawEntry
from vigie_common.imports.problems import Location, Problem

__all__ = ["NULL_TAG", "YamlReader", "compose_yaml", "is_null"]

NULL_TAG: Final = "tag:yaml.org,2002:null"
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built


def compose_yaml(text: str, *, file: str, problems: list[Problem], expected: str) -> Node | None:
    """The document's root node; None, and a problem, when it is not valid YAML or empty.

    Args:
        text: The file's text.
        file: The file's name, as shown in problems.
        problems: Where the problem is added.
        expected: What an empty file lacks, for its message (``'customers'``).
    """
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1 if mark else 1, "")
        problems.append(Problem(where, f"not valid YAML: {exc.problem or exc.context}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(Location(file, 1, ""), f"not valid YAML: {exc}"))
        return None
    if root is None:
        problems.append(Problem(Location(file, 1, ""), f"empty file: expected {expected}"))
    return root


def is_null(node: Node) -> bool:
    """True for an explicit or implicit null (``key:``, ``~``, ``null``)."""
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def _kind(node: Node) -> str:
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


def _body(node: ScalarNode, where: Location) -> Location:
    """Where the text's first line is, when YAML kept its line breaks as written."""
    if node.style == "|":  # the block's text starts on the line after the ``|``
        return Location(where.file, where.line, where.field, body=node.start_mark.line + 2)
    if "\n" not in str(node.value):
        return Location(where.file, where.line, where.field, body=where.line)
    return where  # folded lines: a mistake is placed at the value's first line


class YamlReader:
    """Walks the composed nodes (each knows its line); aliases are refused, so it stays linear.

    A service subclasses it with the walk of its own document (which keys, which lists),
    using :meth:`document`, :meth:`sequence` and :meth:`entry`.
    """

    def __init__(
        self,
        file: str,
        problems: list[Problem],
        *,
        refused: Mapping[str, str] | None = None,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        """Read into ``problems``.

        Args:
            file: The file's name, as shown in problems.
            problems: Where every problem is added, in the order found.
            refused: Keys (lower case) refused wherever they stand, with the message
                (a secret's key: pointing to where secrets go instead).
            hints: Added to "expected a single value" for these keys (what the value is).
        """
        self.file = file
        self.problems = problems
        self.refused: Mapping[str, str] = refused or {}
        self.hints: Mapping[str, str] = hints or {}
        self.seen: set[int] = set()

    def where(self, node: Node, path: str) -> Location:
        """The node's location, ``path`` its field."""
        return Location(self.file, node.start_mark.line + 1, path)

    def problem(self, node: Node, path: str, message: str) -> None:
        """Record a problem at the node."""
        self.problems.append(Problem(self.where(node, path), message))

    def fresh(self, node: Node, path: str) -> bool:
        """False (and a problem) when the node was met already: it is an alias."""
        if id(node) in self.seen:
            self.problem(node, path, "aliases (*name) are not supported: write the value out")
            return False
        self.seen.add(id(node))
        return True

    def document(
        self, root: Node, keys: tuple[str, ...], required: Collection[str] = ()
    ) -> dict[str, Node] | None:
        """The top mapping's values by key; a ``required`` key missing is a problem."""
        top = self.mapping(root, "", keys)
        if top is None:
            return None
        for key in required:
            if key not in top:
                self.problem(root, key, "required field missing")
        return top

    def sequence(self, node: Node | None, path: str) -> list[Node]:
        """The list's items; none when absent or null, or (with a problem) not a list."""
        if node is None or is_null(node) or not self.fresh(node, path):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, path, "expected a list")
            return []
        return list(node.value)

    def mapping(self, node: Node, path: str, keys: tuple[str, ...]) -> dict[str, Node] | None:
        """The node's values by key; refused, unknown and duplicate keys are problems."""
        if not self.fresh(node, path):
            return None
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping of {', '.join(keys)}")
            return None
        found: dict[str, Node] = {}
        lines: dict[str, int] = {}
        for key_node, value in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            at = f"{path}.{key}" if path else key
            refused = self.refused.get(key.lower())
            if refused is not None:
                problem = refused
            elif key not in keys:
                problem = f"unknown key (known: {', '.join(sorted(keys))})"
            elif key in found:
                problem = f"duplicate key (first at line {lines[key]})"
            else:
                found[key], lines[key] = value, key_node.start_mark.line + 1
                continue
            self.problem(key_node, at, problem)
        return found

    def entry(
        self, node: Node, path: str, keys: tuple[str, ...], lists: Collection[str] = ()
    ) -> tuple[RawEntry, dict[str, Node]] | None:
        """The mapping's scalar values as an entry, and its nodes (for the nested lists).

        Args:
            node: The mapping.
            path: Its field (``sites[0]``).
            keys: The keys it may have.
            lists: Keys whose value is a list the caller walks (left out of the entry).
        """
        values = self.mapping(node, path, keys)
        if values is None:
            return None
        entry = RawEntry(self.where(node, path))
        for key, value in values.items():
            if key in lists:
                continue
            where = self.where(value, f"{path}.{key}")
            if not self.fresh(value, where.field):
                entry.reported.add(key)
                continue
            if not isinstance(value, ScalarNode):
                hint = self.hints.get(key, "")
                got = _kind(value)
                self.problem(value, where.field, f"expected a single value{hint}, got {got}")
                entry.reported.add(key)
                continue
            text = None if value.tag == NULL_TAG else str(value.value)
            entry.values[key] = (text, _body(value, where))
        return entry, values
