"""Options shared by the commands, each defined once (pip-tools style), and the one way a
command turns SPEC and --set into a compiled game.

One meaning per short flag across commands: ``-o`` is where the output goes (a file, or
for `train` the run directory), ``-O`` a training setting, ``-h`` help.  Importing this
module is cheap: the compiler and the solver are imported where a command runs.
"""
from __future__ import annotations

import math
from typing import Callable

import click

from mechdsl.compiler.model import FOLLOWER_MODELS, TIE_READINGS


def suggestion(name: str, candidates) -> str:
    """ "did you mean 'x'?" for the closest candidate, else "" (imported when needed: the
    compiler's constants module is not cheap to import)."""
    from mechdsl.compiler.consts import did_you_mean

    return did_you_mean(str(name), [str(c) for c in candidates])


class Choice(click.Choice):
    """A `click.Choice` whose error says which choice was probably meant."""

    def get_invalid_choice_message(self, value, ctx) -> str:
        close = suggestion(value, self.choices)
        return super().get_invalid_choice_message(value, ctx) + (f" ({close[0].upper()}{close[1:]})" if close else "")


def with_suggestions(command: click.Command) -> click.Command:
    """Every `click.Choice` option of `command` as a `Choice` (so a mistyped format,
    follower model or tie reading gets a "did you mean"), wherever it was declared."""
    for param in command.params:
        if type(param.type) is click.Choice:
            param.type = Choice(param.type.choices, case_sensitive=param.type.case_sensitive)
    return command


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


class Seconds(click.FloatRange):
    """A wall-clock budget: a finite number of seconds >= 0 (nan and inf are refused)."""

    name = "S"

    def __init__(self):
        super().__init__(min=0)

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number of seconds such as 60, got {value!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected a finite number of seconds, got {value!r}", param, ctx)
        return super().convert(number, param, ctx)


def parse_sets(values: tuple[str, ...], flag: str = "--set", example: str = "eps=0.1") -> dict[str, str]:
    """`NAME=VALUE` pairs into a dict (values stay text: the resolver evaluates them)."""
    from mechdsl.compiler.errors import MechUsageError

    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise MechUsageError(f"{flag} expects NAME=VALUE, got {item!r}", hint=f"e.g. {flag} {example}")
        key, val = item.split("=", 1)
        out[key.strip()] = val.strip()
    return out


def training_options(values: tuple[str, ...]) -> dict[str, str]:
    """-O NAME=VALUE settings, each name (and each named value: algo, device, ties, follower_model) checked
    here so a typo gets a "did you mean"."""
    from mechdsl.compiler.errors import MechUsageError
    from mechdsl.compiler.model import FOLLOWER_MODELS, TIE_READINGS
    from mechdsl.config import ALGOS, DEVICES, MODES, TrainConfig

    out = parse_sets(values, flag="-O", example="lr=3e-3")
    for key, val in out.items():
        if key not in TrainConfig.names():
            close = suggestion(key, TrainConfig.names())
            raise MechUsageError(f"unknown training option {key!r}" + (f"; {close}" if close else ""),
                                 hint="one of: " + ", ".join(TrainConfig.names()))
        named = {"algo": ALGOS, "device": DEVICES, "ties": TIE_READINGS, "follower_model": FOLLOWER_MODELS,
                 "mode": MODES}.get(key)
        if named and val not in named and not (key in ("ties", "follower_model") and val.lower() in ("none", "null")):
            close = suggestion(val, named)
            raise MechUsageError(f"-O {key}={val}: {key} is one of {', '.join(named)}" + (f"; {close}" if close else ""),
                                 hint=f"e.g. -O {key}={named[0]}")
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


def output_option(fn: Callable) -> Callable:
    """-o/--output FILE: where a command's result goes instead of stdout."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                        help="Write to FILE instead of stdout.")(fn)


def run_dir_option(fn: Callable) -> Callable:
    """-o/--out DIR: `train`'s output, the run directory (-o means "output" everywhere)."""
    return click.option("-o", "--out", type=click.Path(file_okay=False),
                        help="Run directory (a free name is chosen if it is taken).")(fn)


def train_option(fn: Callable) -> Callable:
    """-O/--option NAME=VALUE: any training setting of `mechdsl.config.TrainConfig`."""
    return click.option("-O", "--option", "options", multiple=True, metavar="NAME=VALUE",
                        help="Any other training setting (repeatable), e.g. -O lr=3e-3 -O episodes=512.")(fn)


def workers_option(fn: Callable) -> Callable:
    """--workers N: seeds trained in parallel processes (`mechdsl.parallel`)."""
    return click.option("--workers", type=Count(minimum=1, maximum=1024), default=None,
                        help="Seeds trained at once, each in its own process (default: the CPU cores "
                        "available); the results are those of training them one by one.")(fn)


def mode_options(fn: Callable) -> Callable:
    """--mode and --memory-budget: exact payoff tensors, or Algorithm 2 on samples (mechdsl.memory)."""
    fn = click.option("--memory-budget", metavar="SIZE",
                      help="Memory a run may use, e.g. 4GB (default: 80% of what is available).")(fn)
    return click.option("--mode", type=click.Choice(["auto", "exact", "sampled"]),
                        help="exact: payoff tensors over every type x action profile; sampled: Algorithm 2 on "
                             "sampled profiles, values and regret estimated; auto (default): exact when it fits "
                             "the memory budget.")(fn)


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object (documented in docs/results.md) instead of text.")(fn)


def exact_option(fn: Callable) -> Callable:
    return click.option("--exact", is_flag=True,
                        help="Print values that are fractions as fractions (17/9 rather than 1.88889).")(fn)


REFERENCE_SECONDS = 120.0  # wall-clock budget of the report's reference solve


def solve_limit_option(fn: Callable) -> Callable:
    """--solve-limit and --solve-seconds: the work and time the report's exact optimum may take."""
    fn = click.option("--solve-seconds", type=Seconds(), default=REFERENCE_SECONDS, show_default=True,
                      help="Wall-clock seconds the exact solver may spend on the optimum (0: no limit).")(fn)
    return click.option("--solve-limit", type=Count(), default="1e6", show_default=True,
                        help="Leader policies the exact solver may enumerate for the optimum (0: skip).")(fn)


def ties_option(fn: Callable) -> Callable:
    return click.option(
        "--ties", type=Choice(TIE_READINGS), default=None,
        help="How exact ties in the MW followers' final weights are read: pessimistic (against the "
        "leader; the default), first (the lowest-index action, as the paper's code), favourable "
        "(for the leader).  Default: the spec's `dynamics { ties = ... }`, else pessimistic.",
    )(fn)


def follower_model_option(fn: Callable) -> Callable:
    return click.option(
        "--follower-model", type=Choice(FOLLOWER_MODELS), default=None,
        help="How the followers respond (docs/followers.md): mw (multiplicative weights, argmax played), swap "
        "(no-swap-regret dynamics: correlated equilibrium), qlearning (epsilon-greedy Q-learning, greedy action "
        "played), favourable / pessimistic (the leader-favourable / leader-adverse pure Bayes-Nash equilibrium).  "
        "Default: the spec's `dynamics { model = ... }`, else mw.",
    )(fn)


def load_ir(spec: str, sets: tuple[str, ...]):
    """SPEC text -> Model -> GameIR, the front door every command uses."""
    from mechdsl import compile as compile_model, load

    return compile_model(load(spec, parse_sets(sets)))


def write_or_echo(text: str, output) -> None:
    """`text` to FILE (saying so on stderr) or to stdout."""
    if output:
        from pathlib import Path

        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)
