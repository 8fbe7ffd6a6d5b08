"""The mechdsl compiler front door: text -> `Spec` -> `Model` (and later -> `GameIR`).

>>> model = load("specs/paper/maintain.mech")           # doctest: +SKIP
>>> model.followers[0].action_labels                      # doctest: +SKIP
['A', 'B', 'C']
"""
from __future__ import annotations

import os
from typing import Optional

from mechdsl.compiler.errors import MechError, MechSemanticError, MechSizeError, MechSyntaxError, MechUsageError
from mechdsl.compiler.limits import MAX_SOURCE_CHARS
from mechdsl.compiler.model import Model, Span
from mechdsl.compiler.parse import parse, too_long
from mechdsl.compiler.resolve import resolve
from mechdsl.compiler.spec import Spec
from mechdsl.compiler.transform import to_spec

__all__ = [
    "parse", "to_spec", "resolve", "load", "loads", "Model", "Spec",
    "MechError", "MechSyntaxError", "MechSemanticError", "MechUsageError", "MechSizeError",
]


def loads(text, path: str = "<spec>", overrides: Optional[dict] = None) -> Model:
    """Compile spec text (str, or UTF-8 bytes) to a `Model`; every error comes back
    located in `path`/`text`.  Override values may be text ("1/10") or numbers."""
    if isinstance(text, (bytes, bytearray)):
        text = decode(bytes(text), str(path))
    if not isinstance(text, str):
        raise MechUsageError(f"spec text must be str or bytes, got {type(text).__name__}", path=str(path),
                             hint="pass the contents of a .mech file, or use compiler.load(path)")
    sets = override_texts(overrides)
    try:
        return resolve(to_spec(parse(text, path), path), sets)
    except MechError as e:
        raise e.located(path, text) from None


def load(path, overrides: Optional[dict] = None) -> Model:
    """Read a .mech file and compile it (`overrides`: the `--set name=value` pairs)."""
    path = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SOURCE_CHARS * 4 + 1)  # UTF-8 takes at most 4 bytes a character
    except FileNotFoundError:
        raise MechUsageError(f"no such spec file: {path}", path=path, hint="check the path") from None
    except (OSError, ValueError) as e:
        raise MechUsageError(f"cannot read spec file {path}: {e.__class__.__name__}", path=path,
                             hint="give the path of a readable .mech file") from None
    if len(data) > MAX_SOURCE_CHARS * 4:  # too long whatever it says
        raise too_long(data.decode("utf-8", errors="replace"), path, f"more than {len(data) - 1:,} bytes long")
    return loads(decode(data, path), path, overrides)


def decode(data: bytes, path: str) -> str:
    """UTF-8 bytes -> text (a leading byte-order mark is dropped); a bad byte is an error at
    its line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        text = data.decode("utf-8", errors="replace")
        raise MechSyntaxError(
            f"the file is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}",
            path=path, span=Span.make(line=line, column=column, end_line=line, end_column=column + 1), source=text,
            hint="save the spec as UTF-8 (plain ASCII is fine)",
        ) from None


def override_texts(overrides) -> dict[str, str]:
    """`--set` values as the text the resolver parses: numbers and bools become their
    spelling in the language; anything else is a usage error."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise MechUsageError(f"overrides must be a dict of name -> value, got {type(overrides).__name__}",
                             hint='e.g. {"messages": 2}')
    out = {}
    for name, value in overrides.items():
        if not isinstance(name, str):
            raise MechUsageError(f"bad parameter name {name!r} in the overrides", hint="names are like eps or messages")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = repr(float(value)) if isinstance(value, float) else str(value)
        elif not isinstance(value, str):
            raise MechUsageError(f"bad value for --set {name}: {type(value).__name__}",
                                 hint="give a number or the text of a constant expression, e.g. \"1/10\"")
        out[name] = value
    return out
