"""`mechdsl train` and `mechdsl eval`: learn the leader's policy with MAPPO / PPO in the
Stackelberg POMDP, then report the learned mechanism, its exact value, the gap to the
exact optimum and the followers' regret."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from mechdsl.options import (exact_option, follower_model_option, json_option, load_ir, mode_options, output_option,
                             parse_sets,
                             run_dir_option, solve_limit_option, spec_argument, ties_option, train_option,
                             training_options, workers_option, write_or_echo)


def _checked_run_dir(out) -> None:
    """`-o lr=3e-3` meant a training setting (-o was --option before it meant --out)."""
    from mechdsl.compiler.errors import MechUsageError
    from mechdsl.config import TrainConfig

    if out and "=" in out and out.split("=", 1)[0].strip() in TrainConfig.names():
        raise MechUsageError(f"-o/--out is the run directory, got {out!r}",
                             hint=f"a training setting is -O {out} (capital O)")


@click.command("train")
@spec_argument
@click.option("--seeds", type=click.IntRange(min=1), help="Independent runs (seeds --seed, --seed+1, ...).")
@click.option("--seed", type=int, help="The first seed.")
@click.option("--steps", type=str, metavar="N", help="Budget per seed in POMDP environment steps, e.g. 5e7.")
@click.option("--algo", type=click.Choice(["mappo", "ppo"]), help="mappo: centralized critic (default); ppo: critic sees the actor's observation.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where the batched POMDP and networks run.")
@train_option
@workers_option
@run_dir_option
@click.option("--resume", is_flag=True, help="Continue the run in --out (or the latest run of SPEC) from its checkpoint.")
@solve_limit_option
@ties_option
@follower_model_option
@json_option
@exact_option
@mode_options
def train_command(spec: str, sets: tuple[str, ...], seeds, seed, steps, algo, device, options, workers, out, resume,
                  ties, follower_model, solve_limit: int, solve_seconds: float, as_json: bool, exact: bool,
                  mode, memory_budget) -> None:
    """Learn the leader's policy for SPEC in its Stackelberg POMDP.

    Each seed trains until its budget is spent or the policy has converged; every
    iteration simulates many POMDP episodes in parallel.  A step is one leader decision
    of the POMDP (every rollout of every sub-episode, as the paper counts them).  At the
    end the learned mechanism is printed with its exact value, the gap to the exact
    optimum (when the spec is small enough to solve) and the followers' regret.

    Settings come from the defaults, then the spec's `training { ... }` block, then
    these options.  The run directory keeps the spec, the IR, the config, the metrics,
    checkpoints, the learned policies, a summary and the training curve; Ctrl-C saves a
    checkpoint that --resume continues.  Seeds run in parallel processes (--workers,
    default: the cores available), with the results of running them one by one.

    \b
    Examples:
      mechdsl train specs/paper/allocation.mech --set messages=2
      mechdsl train specs/paper/maintain_mixed.mech --seeds 10 --workers 4 --json
      mechdsl train specs/paper/matrix_design.mech --algo ppo -O lr=3e-3
      mechdsl train specs/paper/spm_messages.mech -o runs/spm --resume
      mechdsl train specs/paper/allocation.mech --follower-model qlearning
    """
    import torch

    from mechdsl.compiler.errors import MechUsageError
    from mechdsl.config import config_for
    from mechdsl.parallel import default_workers, train_seeds
    from mechdsl.progress import Progress
    from mechdsl.report import report_json, report_text
    from mechdsl.runs import RunDir
    from mechdsl.tblog import TBLogger

    _checked_run_dir(out)
    overrides = training_options(options)
    for key, val in (("seeds", seeds), ("seed", seed), ("steps", steps), ("algo", algo), ("device", device),
                     ("ties", ties), ("follower_model", follower_model), ("mode", mode),
                     ("memory_budget", _budget(memory_budget))):
        if val is not None:
            overrides[key] = str(val)
    if device == "cuda" and not torch.cuda.is_available():
        raise MechUsageError("--device cuda: no CUDA device is available", hint="use --device cpu")

    if resume:
        run = RunDir.existing(out) if out else RunDir.latest(spec)
        ir, config, sets_d, resume_blob = run.reopen(overrides, spec, parse_sets(sets))
    else:
        ir = load_ir(spec, sets)
        sets_d = parse_sets(sets)
        config = config_for(ir, overrides)
        run = RunDir.new(spec, out)
        run.write_inputs(spec, ir, config, sets_d)
        resume_blob = None

    workers = workers or default_workers()
    progress = Progress(config, disable=as_json, workers=workers)
    tb = TBLogger(run.path)
    if resume:
        tb.replay(run.read_metrics())  # the event files say what the rewound metrics say

    def on_eval(row: dict[str, Any]) -> None:
        run.append_metrics(row)
        tb.log(row)
        progress.update(row)

    finish = dict(ir=ir, config=asdict(config), spec=spec, sets=sets_d, solve_limit=solve_limit,
                  solve_seconds=solve_seconds,
                  title=_title(spec, sets_d))
    with tb:
        try:
            with progress:
                result = train_seeds(config, ir, workers, callback=on_eval, resume=resume_blob,
                                     checkpoint=run.save_checkpoint, on_seed_end=progress.end)
        except KeyboardInterrupt:
            _interrupted(run, tb, finish, resuming=resume_blob is not None, as_json=as_json, exact=exact)
            sys.exit(130)
        report = run.write_results(runs=[asdict(r) for r in result.runs], **finish)
        tb.summary(report_text(report), report.get("optimum"), {r.seed: r.steps for r in result.runs})
    click.echo(report_json(report, "train") if as_json else report_text(report, exact))


def _interrupted(run, tb, finish: dict[str, Any], resuming: bool, as_json: bool, exact: bool) -> None:
    """Ctrl-C: the summary, curve and policy of the seeds so far (from the checkpoint
    just written, or the one resumed from), then how to continue.  A second Ctrl-C
    skips the summary, never the hint."""
    from mechdsl.report import report_json, report_text

    saved = 0
    if run.checkpoints_saved or resuming:
        try:
            runs = run.runs_so_far(finish["ir"])
            if runs:
                report = run.write_results(runs=runs, interrupted=True, **finish)
                tb.summary(report_text(report), report.get("optimum"), {r["seed"]: int(r["steps"]) for r in runs})
                click.echo("\n" + (report_json(report) if as_json else report_text(report, exact)))
                saved = len(runs)
        except KeyboardInterrupt:
            pass
    click.echo("\n" + interrupted_message(run, finish["spec"], resuming, saved), err=True)


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@solve_limit_option
@follower_model_option
@json_option
@exact_option
@output_option
@mode_options
def eval_command(run_dir: str, solve_limit: int, solve_seconds: float, follower_model, as_json: bool, exact: bool, output, mode, memory_budget) -> None:
    """Re-evaluate the policies saved in RUN_DIR exactly and print the same report
    as `mechdsl train` (value, optimum, gap, regret).  --follower-model re-evaluates
    them against another follower model (default: the one trained against).

    \b
    Examples:
      mechdsl eval runs/allocation/run-001
      mechdsl eval runs/spm --json -o spm.json
      mechdsl eval runs/allocation/run-001 --follower-model swap
    """
    from mechdsl.compiler.errors import MechUsageError
    from mechdsl.report import build_report, report_json, report_text
    from mechdsl.runs import RunDir

    run = RunDir.existing(run_dir)
    meta = run.read_config()
    ir = run.read_ir()
    saved = run.load_policy()
    if saved is None:
        runs = run.runs_so_far(ir)
        if not runs:
            raise MechUsageError(f"{run_dir} has no saved policy yet", hint="train first, or wait for a checkpoint")
    else:
        runs = saved["runs"]
    seconds = sum(r.get("seconds", 0.0) for r in runs)
    config_dict = dict(meta["config"], **({"follower_model": follower_model} if follower_model else {}))
    if mode is not None:
        config_dict["mode"] = mode
    if memory_budget is not None:
        config_dict["memory_budget"] = _budget(memory_budget)
    report = build_report(ir, runs, config_dict=config_dict, spec=meta["spec"], sets=meta["sets"],
                          solve_limit=solve_limit, seconds=seconds, solve_seconds=solve_seconds)
    report["run_dir"] = str(run.path)
    write_or_echo(report_json(report, "eval") if as_json else report_text(report, exact), output)


def _budget(text):
    """--memory-budget SIZE -> bytes (None when not given); a bad size is a usage error."""
    if text is None:
        return None
    from mechdsl.compiler.errors import MechUsageError
    from mechdsl.memory import parse_bytes

    try:
        n = parse_bytes(text)
    except ValueError:
        n = -1
    if n < 0:
        raise MechUsageError(f"--memory-budget {text!r} is not a size", hint="e.g. --memory-budget 4GB")
    return n


def _title(spec: str, sets: dict[str, str]) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in sets.items())
    return Path(spec).stem + (f" ({extra})" if extra else "")


def interrupted_message(run, spec: str, resuming: bool, seeds_written: int = 0) -> str:
    """What Ctrl-C left behind, as it is: only a checkpoint this process wrote (or the one
    it resumed from) can be continued."""
    again = f"  mechdsl train {spec} --out {run.path} --resume"
    wrote = (f"\nwritten: summary.json, curve.png, curve.svg and policy.pt of the {seeds_written} "
             f"seed{'s' if seeds_written != 1 else ''} so far") if seeds_written else ""
    if run.checkpoints_saved:
        return f"interrupted: checkpoint saved in {run.path}{wrote}; continue with\n{again}"
    if resuming:
        return (f"interrupted before a new checkpoint: {run.path} keeps the checkpoint it resumed from{wrote}; "
                f"continue with\n{again}")
    return f"interrupted before the first checkpoint: nothing to resume in {run.path}; start again without --resume"
