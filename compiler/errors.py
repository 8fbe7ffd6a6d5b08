"""One error family for everything a user can get wrong.

Each error knows where it happened and prints itself as
``file:line:col: error: message``, the source line, a caret, and a hint.
The CLI turns any `MechError` into that text and exit status 2.
"""
from __future__ import annotations

from typing import Optional

from mechdsl.compiler.model import Span

WINDOW = 100  # characters of a long source line shown around the caret
MAX_READ = 4_000_000  # characters of a file read back to show an error's line


class MechError(Exception):
    """Base of all user-facing errors (bad spec, bad option, spec too large...)."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        span: Optional[Span] = None,
        hint: str = "",
        source: Optional[str] = None,
    ):
        super().__init__(message)
        self.message = message
        self.path = path
        self.span = span
        self.hint = hint
        self.source = source

    def located(self, path: str, source: Optional[str]) -> "MechError":
        """Fill in the file and text if the raiser did not know them."""
        self.path = self.path or path
        if self.source is None:
            self.source = source
        return self

    def render(self) -> str:
        where = self.path or ("<spec>" if self.span is not None else "")
        if self.span is not None:
            where += f":{self.span.line}:{self.span.column}"
        lines = [f"{where}: {self.kind}: {self.message}" if where else f"{self.kind}: {self.message}"]
        source = self.source if self.source is not None else _read(self.path) if self.span is not None else None
        if self.span is not None and source is not None:
            lines += source_excerpt(source, self.span)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


def _read(path: str) -> Optional[str]:
    """The text of the file an error names, when the raiser (a later stage) did not keep it."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_READ)
    except (OSError, ValueError):
        return None


def source_excerpt(source: str, span: Span, width: int = WINDOW) -> list[str]:
    """The source line the span starts on and a caret under the span.

    Lines are split at "\\n" only, as the parser counts them (`str.splitlines` also
    breaks at form feeds and U+2028, which would echo the wrong line).  Characters a
    terminal would not show as one column become "?", tabs stay tabs so the caret
    lines up, and a long line is cut to a window around the caret.
    """
    src_lines = source.split("\n")
    if not 1 <= span.line <= len(src_lines):
        return []
    text = src_lines[span.line - 1].rstrip("\r")
    start = max(0, min(span.column - 1, len(text)))
    size = 1
    if span.end_line == span.line and span.end_column > span.column:
        size = span.end_column - span.column
    lo = 0 if len(text) <= width else max(0, min(start - width // 2, len(text) - width))
    hi = min(len(text), lo + width)
    shown = "".join(c if c == "\t" or c.isprintable() else "?" for c in text[lo:hi])
    pad = "".join("\t" if c == "\t" else " " for c in shown[: start - lo])
    size = max(1, min(size, len(shown) - (start - lo)))
    before, after = ("..." if lo else ""), ("..." if hi < len(text) else "")
    return [f"    {before}{shown}{after}", "    " + " " * len(before) + pad + "^" * size]


class MechSyntaxError(MechError):
    """The text does not parse."""


class MechSemanticError(MechError):
    """The text parses but means nothing consistent (unknown name, bad probability...)."""


class MechUsageError(MechError, ValueError):
    """A command-line problem: missing file, unknown --set name, bad option value."""


class MechSizeError(MechError):
    """The spec is well formed but too large for the requested exact computation."""
