"""`mechdsl sweep`: a grid of training runs over spec params, training options and seeds,
on Ray (mechdsl.sweep), with a summary table and a plot across the trials."""
from __future__ import annotations

import sys

import click

from mechdsl.options import Count, parse_sets, solve_limit_option, spec_argument, train_option, training_options


@click.command("sweep")
@spec_argument
@click.option("--grid", "grid", multiple=True, metavar="NAME=V1,V2,...",
              help="Values of a spec param or a training option to try (repeatable; every combination is a "
              "grid point).  `param:NAME` / `option:NAME` when NAME is both.")
@click.option("--seeds", type=click.IntRange(min=1), help="Seeds per grid point (default: the spec's, else 1).")
@click.option("--seed", type=int, help="The first seed.")
@click.option("--steps", type=Count(minimum=1), metavar="N", help="Budget per trial in POMDP steps, e.g. 5e6.")
@train_option
@click.option("--address", metavar="RAY_ADDRESS",
              help="An existing Ray cluster (`auto`, or the head node's HOST:6379, as `ray.init` takes it); "
              "default: a local Ray instance.")
@click.option("--cpus", type=click.IntRange(min=1), help="CPUs of the local Ray instance (default: all).")
@click.option("-o", "--out", type=click.Path(file_okay=False),
              help="Sweep directory (default: sweeps/<spec>/run-NNN; a free name is chosen if it is taken).")
@solve_limit_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary (summary.json: trials, points) as JSON.")
def sweep_command(spec: str, sets: tuple[str, ...], grid: tuple[str, ...], seeds, seed, steps, options, address,
                  cpus, out, solve_limit: int, solve_seconds: float, as_json: bool) -> None:
    """Train SPEC over a grid of params and training options, several seeds each, on Ray.

    Each trial (grid point x seed) trains one seed exactly as `mechdsl train --seeds 1
    --seed S` would and leaves a normal run directory under the sweep directory.  At the
    end: trials.csv, summary.json, a table (value mean +- std over seeds, regret, the
    certificate verdicts counted) and sweep.png (value against the first grid name).
    Names and values are checked, and every point compiled, before any trial starts.
    Needs Ray: pip install "mechdsl[ray]".

    \b
    Examples:
      mechdsl sweep specs/paper/allocation.mech --grid messages=1,2,3 --seeds 5
      mechdsl sweep specs/paper/spm_messages.mech --grid lr=3e-3,1e-2 --grid episodes=128,256 --steps 5e6
      mechdsl sweep SPEC --grid lr=1e-3,1e-2 --seeds 10 --address auto -o sweeps/lr
    """
    from pathlib import Path

    from mechdsl.runs import RunDir
    from mechdsl.sweep import make_plan, parse_grid, require_ray, run_sweep

    require_ray()
    overrides = training_options(options)
    if steps is not None:
        overrides["steps"] = str(steps)
    axes = parse_grid(spec, grid)
    plan = make_plan(spec, axes, parse_sets(sets), overrides, seeds, seed, solve_limit, solve_seconds)
    folder = RunDir.new(spec, out, root="sweeps").path
    click.echo(f"sweep: {len(plan.points)} grid points x {len(plan.seeds)} seeds -> {folder}", err=True)
    try:
        summary = run_sweep(plan, Path(folder), address=address, cpus=cpus, echo=lambda s: click.echo(s, err=True))
    except KeyboardInterrupt:  # the finished trials are summarized; the rest were cancelled
        click.echo((Path(folder) / "summary.txt").read_text(), nl=False)
        click.echo(f"interrupted: the finished trials are summarized in {folder}", err=True)
        sys.exit(130)
    if as_json:
        import json

        click.echo(json.dumps({k: v for k, v in summary.items() if k != "text"}, indent=2, default=str))
    else:
        click.echo(summary["text"])
    if any(r["error"] for r in summary["trials"]):
        raise SystemExit(1)
