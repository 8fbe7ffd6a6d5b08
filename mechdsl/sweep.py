"""Grid sweeps on Ray (`mechdsl sweep`): every combination of the grid's values -- spec
params (as `--set`) and training options (as `-O`) -- times every seed is one trial, a Ray
task that trains that one seed exactly as `mechdsl train --seeds 1 --seed S` would and
leaves a normal run directory.  Ray core tasks rather than Tune: the trainer already
stops itself (budget, convergence, target), so a sweep needs scheduling, not a searcher.

    sweeps/<spec>/run-NNN/             (or --out)
        sweep.json                     the plan: spec, grid, seeds, --set and -O values
        <point>/seed-S/                a run directory (mechdsl.runs), one per trial
        trials.csv                     one row per trial: grid values, seed, value, regret, verdict
        summary.json / summary.txt     per grid point: value mean +- std over seeds, verdicts
        sweep.png / sweep.svg          value against the first grid name, mean +- std, verdicts

A trial trains in a temporary directory on whichever node runs it and sends the files
back, so a cluster (`--address`) needs no shared filesystem, only mechdsl installed on
its nodes.  Every point is compiled, and its settings and memory checked, before any
task starts: a bad name or value fails at once, with a "did you mean".
"""
from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from mechdsl.compiler.errors import MechError, MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.config import TrainConfig

INSTALL = 'pip install "mechdsl[ray]"   (or: pip install "ray[default]")'
NOT_GRID = {"seeds": "--seeds N", "seed": "--seed S"}  # seeds are their own axis


@dataclass
class Axis:
    name: str
    kind: str  # "param" (a --set) or "option" (a -O)
    values: list[str]


@dataclass
class Point:
    """One combination of grid values, compiled and checked."""

    values: dict[str, str]
    sets: dict[str, str]
    config: TrainConfig
    ir: GameIR
    label: str = ""


@dataclass
class Plan:
    spec: str
    axes: list[Axis]
    points: list[Point]
    seeds: list[int]
    sets: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    solve_limit: int = 1_000_000
    solve_seconds: Optional[float] = None


def require_ray() -> None:
    """Ray is an optional extra: say how to get it."""
    if importlib.util.find_spec("ray") is None:
        raise MechUsageError("mechdsl sweep runs its trials on Ray, which is not installed",
                             hint=f"install it: {INSTALL}")


# ---------------------------------------------------------------------------
# the plan: grid names and values checked before anything runs
# ---------------------------------------------------------------------------


def split_values(text: str) -> list[str]:
    """`v1,v2,...` split at the commas outside brackets and parentheses, so a list value
    such as `[0, 0.5]` stays one value."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[(" and 1 or ch in "])" and -1 or 0
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def spec_params(spec: str) -> list[str]:
    """The names of the spec's `param` declarations (what --set may change)."""
    from mechdsl.compiler import parse, to_spec
    from mechdsl.compiler.spec import ParamDecl

    text = Path(spec).read_text(encoding="utf-8")
    return [st.name.name for st in to_spec(parse(text, spec), spec).statements if isinstance(st, ParamDecl)]


def parse_grid(spec: str, items: tuple[str, ...]) -> list[Axis]:
    """`--grid NAME=V1,V2` items as axes; each NAME a param of the spec or a training option
    (`param:NAME` / `option:NAME` when it is both), checked with a "did you mean"."""
    from mechdsl.options import suggestion

    params, options = spec_params(spec), [n for n in TrainConfig.names() if n not in NOT_GRID]
    axes: list[Axis] = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        values = split_values(text) if sep else []
        if not sep or not name or not all(values):
            raise MechUsageError(f"--grid expects NAME=V1,V2,..., got {item!r}", hint="e.g. --grid lr=3e-3,1e-2")
        kind, _, bare = name.partition(":") if ":" in name else ("", "", name)
        if bare in NOT_GRID:
            raise MechUsageError(f"--grid {bare}: seeds are swept with {NOT_GRID[bare]}", hint="e.g. --seeds 5")
        in_params, in_options = bare in params, bare in options
        if kind not in ("", "param", "option") or (kind == "param" and not in_params) or \
                (kind == "option" and not in_options) or not (in_params or in_options):
            pool = params if kind == "param" else options if kind == "option" else params + options
            close = suggestion(bare, pool)
            raise MechUsageError(
                f"--grid {name}: not a param of {spec} or a training option" + (f"; {close}" if close else ""),
                hint=f"the spec's params: {', '.join(params) or '(none)'}; training options: {', '.join(options)}")
        if not kind and in_params and in_options:
            raise MechUsageError(f"--grid {bare}: both a param of the spec and a training option",
                                 hint=f"write param:{bare} or option:{bare}")
        if any(a.name == bare for a in axes):
            raise MechUsageError(f"--grid {bare} given twice", hint="list all its values in one --grid")
        axes.append(Axis(bare, kind or ("param" if in_params else "option"), values))
    return axes


def make_plan(spec: str, axes: list[Axis], sets: dict[str, str], options: dict[str, str], seeds: Optional[int],
              seed: Optional[int], solve_limit: int = 1_000_000, solve_seconds: Optional[float] = None) -> Plan:
    """Every grid point compiled and its settings and memory checked: a bad value stops the
    sweep here, before any trial runs."""
    from mechdsl import compile as compile_model, load
    from mechdsl.config import config_for
    from mechdsl.memory import check_training

    points = []
    for combo in itertools.product(*(a.values for a in axes)):
        values = {a.name: v for a, v in zip(axes, combo)}
        p_sets = {**sets, **{a.name: v for a, v in zip(axes, combo) if a.kind == "param"}}
        p_opts = {**options, **{a.name: v for a, v in zip(axes, combo) if a.kind == "option"}}
        try:
            ir = compile_model(load(spec, p_sets))
        except MechError as e:
            if values:
                e.message = f"grid point {point_label(values)}: {e.message}"
            raise
        config = config_for(ir, p_opts)
        check_training(ir, config.episodes, config.eval_episodes, max(1, config.population), config.device,
                       config.mode, config.memory_budget)
        points.append(Point(values, p_sets, config, ir, label=point_label(values)))
    base = points[0].config
    n, first = seeds or base.seeds, base.seed if seed is None else seed
    return Plan(spec, axes, points, list(range(first, first + n)), sets, options, solve_limit, solve_seconds)


def point_label(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items()) or "base"


def _folder(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", label)[:120]


# ---------------------------------------------------------------------------
# one trial (runs in a Ray worker)
# ---------------------------------------------------------------------------


def run_trial(spec_name: str, spec_text: str, shown: str, sets: dict[str, str], config: TrainConfig, ir: GameIR,
              final: str, solve_limit: int, solve_seconds: Optional[float] = None) -> dict[str, Any]:
    """Train one seed into a run directory as `mechdsl train` does, in a temporary folder;
    return its files (relative path -> bytes) and its summary."""
    import tempfile

    from mechdsl.report import report_text
    from mechdsl.runs import RunDir
    from mechdsl.tblog import TBLogger
    from mechdsl.train import train

    with tempfile.TemporaryDirectory(prefix="mechdsl-trial-") as tmp:
        src = Path(tmp) / spec_name
        src.write_text(spec_text, encoding="utf-8")
        run = RunDir.new(str(src), out=str(Path(tmp) / "run"))
        run.write_inputs(str(src), ir, config, sets, shown=shown)
        title = Path(shown).stem + "".join(f", {k}={v}" for k, v in sets.items())
        with TBLogger(run.path) as tb:
            def on_eval(row):
                run.append_metrics(row)
                tb.log(row)

            result = train(config, ir, callback=on_eval, checkpoint=run.save_checkpoint)
            report = run.write_results(ir, [asdict(r) for r in result.runs], asdict(config), shown, sets,
                                       solve_limit, title, solve_seconds=solve_seconds)
            tb.summary(report_text(report), report.get("optimum"), {r.seed: r.steps for r in result.runs})
        summary = run.read_summary() or {}
        summary["run_dir"] = final
        run.write_summary(summary)
        files = {p.relative_to(run.path).as_posix(): p.read_bytes() for p in sorted(run.path.rglob("*")) if p.is_file()}
    return {"files": files, "summary": summary}


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = (folder / rel).resolve()
        if folder.resolve() not in target.parents:  # only below the trial's folder
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# ---------------------------------------------------------------------------
# the sweep on Ray
# ---------------------------------------------------------------------------


def run_sweep(plan: Plan, out: Path, address: Optional[str] = None, cpus: Optional[int] = None,
              echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Every trial of `plan` as a Ray task (a local instance, or the cluster at `address`);
    the run directories, `trials.csv`, the summary and the plot under `out`."""
    import os

    require_ray()
    import ray

    out.mkdir(parents=True, exist_ok=True)
    trials = [(p, s) for p in plan.points for s in plan.seeds]
    (out / "sweep.json").write_text(json.dumps({
        "spec": plan.spec, "grid": [asdict(a) for a in plan.axes], "seeds": plan.seeds, "sets": plan.sets,
        "options": plan.options, "trials": len(trials)}, indent=2))
    started = not ray.is_initialized()
    if started:
        import mechdsl

        local = {} if address else {"num_cpus": cpus, "runtime_env": {"env_vars": {  # the driver's own code
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(mechdsl.__file__).parent.parent),
                                                        os.environ.get("PYTHONPATH")]))}}}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR", **local)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise MechUsageError(f"cannot start Ray{f' at {address}' if address else ''}: "
                                 f"{str(e).splitlines()[0][:300] if str(e) else e.__class__.__name__}",
                                 hint="start a cluster with `ray start --head` and pass its address, or leave "
                                 "out --address for a local instance") from None
    task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
    text = Path(plan.spec).read_text(encoding="utf-8")
    refs = {}
    for p, s in trials:
        final = out / _folder(p.label) / f"seed-{s}"
        cfg = replace(p.config, seeds=1, seed=s)
        refs[task.remote(Path(plan.spec).name, text, plan.spec, p.sets, cfg, p.ir, str(final), plan.solve_limit,
                         plan.solve_seconds)] = \
            (p, s, final)
    rows: list[dict[str, Any]] = []
    t0, interrupted = time.time(), False
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                p, s, final = refs.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - one failed trial is reported, the sweep goes on
                    rows.append(_row(p, s, final, None, f"{e.__class__.__name__}: {str(e).splitlines()[-1][:300]}"))
                else:
                    _write_files(final, res["files"])
                    rows.append(_row(p, s, final, res["summary"]))
                r = rows[-1]
                echo(f"[{len(rows)}/{len(trials)}] {p.label} seed {s}: "
                     + (f"value {r['value']:.6g}, {r['verdict']}" if r["error"] == "" else f"failed: {r['error']}"))
    except KeyboardInterrupt:
        interrupted = True
        for ref in refs:  # a KeyboardInterrupt in each running task: it cleans up its folder
            ray.cancel(ref)
        ray.wait(list(refs), num_returns=len(refs), timeout=30)
    finally:
        if started:
            ray.shutdown()
    summary = write_summary(plan, rows, out, time.time() - t0, interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return summary


def _row(p: Point, seed: int, final: Path, summary: Optional[dict[str, Any]], error: str = "") -> dict[str, Any]:
    s = summary or {}
    return {**p.values, "point": p.label, "seed": seed, "value": s.get("value"), "max_regret": s.get("max_regret"),
            "verdict": s.get("verdict") or ("failed" if error else ""), "optimum": s.get("optimum"),
            "gap": s.get("gap"), "steps": s.get("steps"), "seconds": s.get("seconds"), "run_dir": str(final),
            "error": error}


# ---------------------------------------------------------------------------
# the summary across trials
# ---------------------------------------------------------------------------


def aggregate(plan: Plan, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per grid point: value mean and std over its finished seeds (population std, as
    `train`'s report), mean max regret, and how many seeds got each certificate verdict."""
    points = []
    for p in plan.points:
        mine = [r for r in rows if r["point"] == p.label]
        vals = [float(r["value"]) for r in mine if r["value"] is not None]
        mean = sum(vals) / len(vals) if vals else None
        std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5 if vals else None
        regrets = [float(r["max_regret"]) for r in mine if r["max_regret"] is not None]
        verdicts: dict[str, int] = {}
        for r in mine:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        optima = {r["optimum"] for r in mine if r["optimum"] is not None}
        points.append({**p.values, "point": p.label, "seeds": len(plan.seeds), "finished": len(vals), "mean": mean,
                       "std": std, "mean_max_regret": sum(regrets) / len(regrets) if regrets else None,
                       "optimum": optima.pop() if len(optima) == 1 else None, "verdicts": verdicts})
    return points


def write_summary(plan: Plan, rows: list[dict[str, Any]], out: Path, seconds: float,
                  interrupted: bool = False) -> dict[str, Any]:
    """trials.csv, summary.json, summary.txt and the plot."""
    names = [a.name for a in plan.axes]
    rows = sorted(rows, key=lambda r: ([p.label for p in plan.points].index(r["point"]), r["seed"]))
    fields = names + ["seed", "value", "max_regret", "verdict", "optimum", "gap", "steps", "seconds", "run_dir", "error"]
    with open(out / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    points = aggregate(plan, rows)
    summary = {"spec": plan.spec, "grid": {a.name: a.values for a in plan.axes}, "kinds": {a.name: a.kind for a in plan.axes},
               "seeds": plan.seeds, "sets": plan.sets, "options": plan.options, "trials": rows, "points": points,
               "seconds": seconds, "sweep_dir": str(out)}
    if interrupted:
        summary["interrupted"] = True
    summary["plot"] = plot(summary, out / "sweep.png")
    summary["text"] = table(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "summary.txt").write_text(summary["text"] + "\n")
    return summary


def _num(x: Optional[float], spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def table(summary: dict[str, Any]) -> str:
    """The summary as a text table, one line per grid point."""
    names = list(summary["grid"])
    head = names + ["seeds", "value (mean +- std)", "max regret", "optimum", "verdicts"]
    body = []
    for p in summary["points"]:
        verdicts = ", ".join(f"{n} {k}" for k, n in sorted(p["verdicts"].items())) or "-"
        body.append([str(p[n]) for n in names] + [f"{p['finished']}/{p['seeds']}",
                                                  "-" if p["mean"] is None else
                                                  f"{_num(p['mean'])} +- {_num(p['std'], '.3g')}",
                                                  _num(p["mean_max_regret"], ".3g"), _num(p["optimum"]), verdicts])
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    n_trials = len(summary["trials"])
    title = (f"sweep of {summary['spec']}: {len(summary['points'])} grid points x {len(summary['seeds'])} seeds, "
             f"{n_trials} trials in {summary['seconds']:.1f} s" + (" (interrupted)" if summary.get("interrupted") else ""))
    return "\n".join([title, "", line(head), line(["-" * w for w in widths])] + [line(r) for r in body]
                     + ["", f"run directories, trials.csv, summary.json and sweep.png in {summary['sweep_dir']}"])


def plot(summary: dict[str, Any], path: Path) -> Optional[str]:
    """Value against the first grid name (mean +- std over seeds), one line per combination
    of the other names, each point labelled with its certified seeds; PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in summary["points"] if p["mean"] is not None]
    if not points:
        return None
    names = list(summary["grid"])
    x_name = names[0] if names else None
    xs_text = summary["grid"][x_name] if x_name else ["base"]
    numeric = all(_is_float(v) for v in xs_text)
    pos = {v: (float(v) if numeric else i) for i, v in enumerate(xs_text)}
    lines: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        key = ", ".join(f"{n}={p[n]}" for n in names[1:])
        lines.setdefault(key, []).append(p)
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        try:
            shown_optimum = False
            for key, pts in lines.items():
                pts.sort(key=lambda p: pos[p[x_name]] if x_name else 0)
                x = [pos[p[x_name]] if x_name else 0 for p in pts]
                y, err = [p["mean"] for p in pts], [p["std"] for p in pts]
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=key or "learned value", zorder=3)
                for xi, p in zip(x, pts):
                    ok = p["verdicts"].get("certified", 0)
                    ax.annotate(f"{ok}/{p['seeds']} certified", (xi, p["mean"]), textcoords="offset points",
                                xytext=(0, 8), ha="center", fontsize=7)
                opt = [(xi, p["optimum"]) for xi, p in zip(x, pts) if p["optimum"] is not None]
                if opt:
                    ax.plot(*zip(*opt), linestyle="none", marker="_", markersize=22, markeredgewidth=1.5,
                            color="0.45", zorder=2, label=None if shown_optimum else "exact optimum")
                    shown_optimum = True
            ax.set_xticks(list(pos.values()), list(pos.keys()))
            ax.margins(x=0.1, y=0.2)
            ax.set_xlabel(x_name or "")
            ax.set_ylabel("value (mean ± std over seeds)")
            ax.set_title(f"{Path(summary['spec']).stem}: learned value per grid point, "
                         f"{len(summary['seeds'])} seed{'s' if len(summary['seeds']) != 1 else ''} each")
            ax.legend(fontsize=7)
            fig.tight_layout()
            for suffix in (".png", ".svg"):
                fig.savefig(path.with_suffix(suffix), dpi=110)
        finally:
            plt.close(fig)
    return str(path)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
