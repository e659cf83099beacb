"""Reading an operator's file: known extension, bounded size, UTF-8 (a BOM is allowed).

The size is bounded before anything is parsed, so a wrong file (a log, a dump) is refused
quickly instead of filling memory. Each refusal is a :class:`~.problems.FileUnreadable`
(or the service's subclass of it) with a short reason and no traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Protocol, TypeVar

from vigie_common.imports.problems import FileUnreadable

__all__ = ["FORMATS", "Parser", "file_format", "read_import_file", "read_text"]

FORMATS: Final[dict[str, Literal["yaml", "csv"]]] = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".csv": "csv",
}
"""What each extension holds: the extension chooses the reader, never the content."""

R_co = TypeVar("R_co", covariant=True)


class Parser(Protocol[R_co]):
    """A reader of one format: the text, and the file's name for its problems."""

    def __call__(self, text: str, *, file: str) -> R_co:
        """The file's entries; mistakes in the text are problems, never exceptions."""
        ...


def file_format(path: Path, *, error: type[FileUnreadable] = FileUnreadable) -> str:
    """``yaml`` or ``csv``, told by the extension (any case).

    Raises:
        FileUnreadable: (``error``) Another extension.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise error(str(path), "unknown format: name the file .yaml, .yml or .csv")
    return kind


def read_text(path: Path, *, limit: int, error: type[FileUnreadable] = FileUnreadable) -> str:
    """The file's text, read as UTF-8 (``utf-8-sig``: a spreadsheet's BOM is dropped).

    Args:
        path: The file; its name is shown as given.
        limit: The largest size accepted, in bytes; at most ``limit + 1`` bytes are read.
        error: The exception raised (the service's subclass, so its callers catch its name).

    Raises:
        FileUnreadable: (``error``) It cannot be opened, is larger than ``limit``, or is
            not UTF-8.
    """
    name = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise error(name, exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise error(name, f"larger than {limit // 2**20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(name, f"not UTF-8 text (byte {exc.start})") from None


R = TypeVar("R")


def read_import_file(
    path: Path,
    *,
    limit: int,
    yaml: Parser[R],
    csv: Parser[R],
    error: type[FileUnreadable] = FileUnreadable,
) -> R:
    """One file read by the reader its extension names; its name is shown as given.

    Raises:
        FileUnreadable: (``error``) As :func:`file_format` and :func:`read_text`; the
            extension is checked before the file is opened.
    """
    kind = file_format(path, error=error)
    text = read_text(path, limit=limit, error=error)
    return (csv if kind == "csv" else yaml)(text, file=str(path))
