"""mechdsl: a declarative mechanism-design language and a Stackelberg-POMDP learner.

The front door:

>>> import mechdsl
>>> model = mechdsl.load("specs/paper/allocation.mech", {"messages": "2"})  # doctest: +SKIP
>>> ir = mechdsl.compile(model)                                            # doctest: +SKIP
"""
from __future__ import annotations

import os as _os

# The repository keeps the language's front end beside this package (compiler/, grammar/);
# the wheel maps them into it as mechdsl.compiler and mechdsl.grammar.  In a source checkout
# the package path is widened to the checkout so the same names resolve there.
if not _os.path.isdir(_os.path.join(__path__[0], "compiler")):
    __path__.append(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mechdsl.compiler.ir import GameIR
    from mechdsl.compiler.model import Model

__all__ = ["load", "compile", "GameIR", "Model", "make_env"]


def __getattr__(name: str):
    """`GameIR` and `Model` on first use: `import mechdsl` (and so every command's start)
    does not pay for the compiler until a command needs it."""
    if name == "GameIR":
        from mechdsl.compiler.ir import GameIR

        return GameIR
    if name == "Model":
        from mechdsl.compiler.model import Model

        return Model
    raise AttributeError(f"module 'mechdsl' has no attribute {name!r}")


def load(path: str, overrides: dict | None = None) -> Model:
    """Read and resolve a .mech file (``overrides``: ``--set`` values as text)."""
    from mechdsl.compiler import load as _load

    return _load(path, overrides or {})


def compile(model: Model) -> GameIR:  # noqa: A001 - the stage is called compile
    """Compile a resolved model into the game-tree IR."""
    from mechdsl.compiler.build import build_ir

    return build_ir(model)


def make_env(spec_path: str, **overrides):
    """A Gymnasium environment for the spec's Stackelberg POMDP (see mechdsl.env)."""
    from mechdsl.env import make_env as _make

    return _make(spec_path, **overrides)
