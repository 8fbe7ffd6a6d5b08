"""One error family for everything a user can get wrong.

Each error knows where it happened and prints itself as
``file:line:col: error: message``, the source line, a caret, and a hint.
The CLI turns any `MechError` into that text and exit status 2.
"""
from __future__ import annotations

from typing import Optional

from compiler.model import Span


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
        where = self.path or "<spec>"
        if self.span is not None:
            where += f":{self.span.line}:{self.span.column}"
        lines = [f"{where}: {self.kind}: {self.message}"]
        if self.span is not None and self.source is not None:
            src_lines = self.source.splitlines()
            if 1 <= self.span.line <= len(src_lines):
                text = src_lines[self.span.line - 1]
                lines.append(f"    {text}")
                width = 1
                if self.span.end_line == self.span.line and self.span.end_column > self.span.column:
                    width = self.span.end_column - self.span.column
                lines.append("    " + " " * (self.span.column - 1) + "^" * width)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.render()


class MechSyntaxError(MechError):
    """The text does not parse."""


class MechSemanticError(MechError):
    """The text parses but means nothing consistent (unknown name, bad probability...)."""


class MechUsageError(MechError, ValueError):
    """A command-line problem: missing file, unknown --set name, bad option value."""


class MechSizeError(MechError):
    """The spec is well formed but too large for the requested exact computation."""
