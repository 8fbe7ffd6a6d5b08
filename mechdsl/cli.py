"""The `mechdsl` command line: thin commands over the stage functions.

Shared options are defined once here (pip-tools style); each command lives in its own
module (`mechdsl.commands.*`) and registers itself on `main`.  Any `MechError` becomes
``file:line:col: error: ...`` on stderr and exit status 2 -- never a traceback.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable

import click

from compiler.errors import MechError, MechUsageError


class MechGroup(click.Group):
    """A click group that prints user errors without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MechError as err:
            click.echo(err.render(), err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=MechGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mechdsl")
def main() -> None:
    """mechdsl: author an economic mechanism in a .mech file, compile it, solve it
    exactly when it is small, and learn the designer's optimal policy.

    \b
    Example:
      mechdsl compile specs/paper/allocation.mech
      mechdsl solve specs/paper/spm_messages.mech --json
      mechdsl train specs/paper/allocation.mech --seeds 3
    """


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


def load_ir(spec: str, sets: tuple[str, ...]):
    """SPEC text -> Model -> GameIR, the front door every command uses."""
    from mechdsl import compile as compile_model, load

    return compile_model(load(spec, parse_sets(sets)))


def register() -> None:
    from mechdsl.commands import compile_cmd, solve_cmd, train_cmd  # noqa: F401  (they register themselves)


register()
