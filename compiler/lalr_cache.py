"""The LALR parser's tables kept as JSON between runs, so a command does not rebuild
them (about 0.2 s, most of `mechdsl check`'s own time) every time it starts.

Lark's own `cache=True` pickles the parser into the temp directory, and loading a pickle
can run code; this cache is plain JSON (Lark's `memo_serialize` data, which names only
`Rule` and `TerminalDef` objects), keyed by the grammar text, the options and Lark's
version, in the user's cache directory (`MECHDSL_CACHE_DIR`, else `$XDG_CACHE_HOME/mechdsl`,
else `~/.cache/mechdsl`).  A missing, stale, unreadable or unwritable cache only means
the tables are built as before.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

_INT_KEYS = "__int_keys__"  # JSON keys are text; Lark's state tables are keyed by numbers


def cache_dir() -> Path:
    root = os.environ.get("MECHDSL_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mechdsl"


def cached_lalr(grammar: str, **options: Any) -> lark.Lark:
    """`lark.Lark(grammar, **options)`, read from the JSON cache when it is there."""
    key = hashlib.sha256(json.dumps([grammar, repr(sorted(options.items())), lark.__version__]).encode()).hexdigest()
    path = cache_dir() / f"lalr-{key[:32]}.json"
    try:
        blob = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode)
        return lark.Lark._load_from_dict(blob["data"], blob["memo"], **_load_options(options))
    except Exception:  # noqa: BLE001 - any problem with the cache: build the tables instead
        pass
    parser = lark.Lark(grammar, **options)
    try:
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        text = json.dumps({"data": _encode(data), "memo": _encode(memo)})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lalr-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass
    return parser


def _load_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options Lark lets a loaded parser take (the rest are in the tables)."""
    return {k: v for k, v in options.items() if k in ("propagate_positions",)}


def _encode(x: Any) -> Any:
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x):
            return {k: _encode(v) for k, v in x.items()}
        return {_INT_KEYS: [[k, _encode(v)] for k, v in x.items()]}
    if isinstance(x, (list, tuple)):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"cannot keep {type(x).__name__} in the parser cache")


def _decode(d: dict[str, Any]) -> Any:
    if len(d) == 1 and _INT_KEYS in d:
        return {k: v for k, v in d[_INT_KEYS]}
    return d
