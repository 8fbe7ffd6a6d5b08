"""Options shared by the commands, each defined once (pip-tools style), and the one way a
command turns SPEC and --set into a compiled game."""
from __future__ import annotations

from typing import Callable

import click

from compiler.errors import MechUsageError


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """`--set k=v` pairs into a dict (values stay text: the resolver evaluates them)."""
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise MechUsageError(f"--set expects NAME=VALUE, got {item!r}", hint="e.g. --set eps=0.1")
        key, val = item.split("=", 1)
        out[key.strip()] = val.strip()
    return out


def spec_argument(fn: Callable) -> Callable:
    """SPEC path plus repeatable --set overrides."""
    fn = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a `param` of the spec (repeatable), e.g. --set messages=1.",
    )(fn)
    fn = click.argument("spec", type=click.Path(dir_okay=False))(fn)
    return fn


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")(fn)


def ties_option(fn: Callable) -> Callable:
    return click.option(
        "--ties", type=click.Choice(["pessimistic", "first", "favourable"]), default=None,
        help="How exact ties in the MW followers' final weights are read: pessimistic (against the "
        "leader; the default), first (the lowest-index action, as the paper's code), favourable "
        "(for the leader).  Default: the spec's `dynamics { ties = ... }`, else pessimistic.",
    )(fn)


def load_ir(spec: str, sets: tuple[str, ...]):
    """SPEC text -> Model -> GameIR, the front door every command uses."""
    from mechdsl import compile as compile_model, load

    return compile_model(load(spec, parse_sets(sets)))
