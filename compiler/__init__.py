"""The mechdsl compiler front door: text -> `Spec` -> `Model` (and later -> `GameIR`).

>>> model = load("specs/paper/maintain.mech")           # doctest: +SKIP
>>> model.followers[0].action_labels                      # doctest: +SKIP
['A', 'B', 'C']
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from compiler.errors import MechError, MechSemanticError, MechSizeError, MechSyntaxError, MechUsageError
from compiler.model import Model
from compiler.parse import parse
from compiler.resolve import resolve
from compiler.spec import Spec
from compiler.transform import to_spec

__all__ = [
    "parse", "to_spec", "resolve", "load", "loads", "Model", "Spec",
    "MechError", "MechSyntaxError", "MechSemanticError", "MechUsageError", "MechSizeError",
]


def loads(text: str, path: str = "<spec>", overrides: Optional[dict[str, str]] = None) -> Model:
    """Compile spec text to a `Model`; every error comes back located in `path`/`text`."""
    try:
        return resolve(to_spec(parse(text, path), path), overrides or {})
    except MechError as e:
        raise e.located(path, text) from None


def load(path, overrides: Optional[dict[str, str]] = None) -> Model:
    """Read a .mech file and compile it (`overrides`: the `--set name=value` pairs)."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MechUsageError(f"no such spec file: {path}", path=path, hint="check the path") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise MechUsageError(f"cannot read spec file {path}: {e.__class__.__name__}", path=path) from None
    return loads(text, path, overrides)
