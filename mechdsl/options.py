"""Options shared by the commands, each defined once (pip-tools style), and the one way a
command turns SPEC and --set into a compiled game."""
from __future__ import annotations

import math
from typing import Callable

import click

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.model import TIE_READINGS


class Count(click.ParamType):
    """A whole number written any way a person would: 1000000, 1e6, 1_000_000."""

    name = "N"

    def __init__(self, minimum: int = 0, maximum: float = 1e15):
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            number = value
        else:
            try:
                number = float(str(value).replace("_", ""))
            except ValueError:
                self.fail(f"expected a number such as 5e6, got {value!r}", param, ctx)
            if not math.isfinite(number):
                self.fail(f"expected a finite number, got {value!r}", param, ctx)
            if number != int(number):
                self.fail(f"expected a whole number, got {value!r}", param, ctx)
        if not self.minimum <= number <= self.maximum:
            self.fail(f"must be between {self.minimum} and {self.maximum:g}, got {value!r}", param, ctx)
        return int(number)


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
        "--ties", type=click.Choice(TIE_READINGS), default=None,
        help="How exact ties in the MW followers' final weights are read: pessimistic (against the "
        "leader; the default), first (the lowest-index action, as the paper's code), favourable "
        "(for the leader).  Default: the spec's `dynamics { ties = ... }`, else pessimistic.",
    )(fn)


def load_ir(spec: str, sets: tuple[str, ...]):
    """SPEC text -> Model -> GameIR, the front door every command uses."""
    from mechdsl import compile as compile_model, load

    return compile_model(load(spec, parse_sets(sets)))
