"""A training run on disk.  Nothing is ever overwritten silently: a new run gets a new
numbered directory, and only `--resume` continues an existing one.

    runs/<spec>/run-001/
        spec.mech        the spec as it was read
        ir.json          the compiled game (GameIR)
        config.json      the resolved TrainConfig, the spec path and its --set values
        metrics.csv      one row per greedy evaluation (all seeds)
        checkpoint.pt    resume state: finished seeds and each running seed's state;
                         written atomically (tmp + os.replace) every `checkpoint_every`
                         seconds per seed, after each seed and on Ctrl-C
        policy.pt        the learned greedy maps of every seed (atomic; on Ctrl-C: so far)
        summary.json     the report: value, optimum, gap, regret, certificate, per seed
        curve.png/.svg   the curve: value, regret and value loss, mean +- 1 std over seeds
        tb/seed-N/       TensorBoard event files, one run per seed (mechdsl.tblog)

README.md's "The run directory" section describes the same files for users.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import torch

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.curves import plot_curves  # noqa: F401  (re-exported: the figure of a run)

METRIC_FIELDS = [
    "seed", "steps", "seconds", "iteration", "value", "best", "normalized", "regret", "greedy_reward", "return",
    "policy_gap", "policy_spread", "entropy", "approx_kl", "lr", "clipfrac", "value_loss", "policy_loss",
    "explained_variance",
]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename over `path` (never a torn file)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _damaged(path: Path, what: str) -> MechUsageError:
    return MechUsageError(f"cannot read {path}: {what}", path=str(path),
                          hint="the run directory was changed or damaged; start a new run (or restore the file)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise _damaged(path, "the file is missing") from None
    except json.JSONDecodeError as e:
        raise _damaged(path, f"not valid JSON at byte {e.pos} (line {e.lineno}, column {e.colno}): {e.msg}") from None
    except (UnicodeDecodeError, OSError) as e:
        raise _damaged(path, f"{e.__class__.__name__}: {e}") from None
    if not isinstance(data, dict):
        raise _damaged(path, "expected a JSON object")
    return data


def _show_sets(sets: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sets.items())


def load_tensors(path: Path) -> Optional[dict[str, Any]]:
    """A checkpoint or policy file: tensors, numbers, strings and plain containers only
    (`weights_only=True`: a crafted file cannot run code); None when there is none."""
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles: the error below says it
            warnings.simplefilter("ignore")
            blob = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # pickle, zip and torch errors alike: the file is not ours
        raise MechUsageError(f"cannot read {path}: not a mechdsl run file or damaged ({e.__class__.__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})",
                             path=str(path), hint="it was not written by `mechdsl train`, or it was changed since; "
                             "start a new run (or restore the file)") from None
    if not isinstance(blob, dict):
        raise MechUsageError(f"cannot read {path}: not a mechdsl run file", path=str(path),
                             hint="it was not written by `mechdsl train`; start a new run")
    return blob


CLAIM = ".mechdsl-run"  # created exclusively: whoever creates it owns the directory
RUN_NAME = re.compile(r"run-(\d+)")


def _claim(path: Path) -> bool:
    """Take `path` as a new run directory if it is missing or empty -- atomically: two
    processes asking at once never get the same directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if any(p.name != CLAIM for p in path.iterdir()):
            return False
        os.close(os.open(path / CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    except OSError as e:
        raise MechUsageError(f"cannot create the run directory {path}: {e.strerror or e}", path=str(path),
                             hint="choose a writable place with --out") from None
    return True


def _numbered(parent: Path) -> list[tuple[int, Path]]:
    """The `run-N` directories under `parent`, in numeric order (run-999 before run-1000)."""
    if not parent.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in parent.iterdir() if (m := RUN_NAME.fullmatch(p.name)))


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.checkpoints_saved = 0  # by this process: what Ctrl-C may truthfully report

    # -- choosing the directory -----------------------------------------------------------
    @classmethod
    def new(cls, spec_path: str, out: Optional[str] = None, root: str = "runs") -> "RunDir":
        """A fresh directory: `out` if it is free (missing or empty), else `out-2`, `out-3`...;
        without `out`, the next `runs/<spec>/run-NNN`."""
        if out:
            base = Path(out)
            k = 1
            while not _claim(cand := base if k == 1 else base.with_name(f"{base.name}-{k}")):
                k += 1
        else:
            parent = Path(root) / Path(spec_path).stem
            k = max((n for n, _ in _numbered(parent)), default=0) + 1
            while not _claim(cand := parent / f"run-{k:03d}"):
                k += 1
        return cls(cand)

    @classmethod
    def existing(cls, path: str) -> "RunDir":
        p = Path(path)
        if not (p / "config.json").is_file():
            raise MechUsageError(f"{path} is not a training run directory (no config.json)",
                                 hint="pass the directory `mechdsl train` printed")
        return cls(p)

    @classmethod
    def latest(cls, spec_path: str, root: str = "runs") -> "RunDir":
        parent = Path(root) / Path(spec_path).stem
        runs = [p for _, p in _numbered(parent) if (p / "config.json").is_file()]
        if not runs:
            raise MechUsageError(f"no run of {spec_path} to resume under {parent}", hint="start one without --resume")
        return cls(runs[-1])

    # -- inputs ---------------------------------------------------------------------------
    def write_inputs(self, spec_path: str, ir: GameIR, config, sets: dict[str, str], shown: Optional[str] = None) -> None:
        """The run's inputs; `shown` is the spec path recorded when the copy came from
        elsewhere (a sweep's trial trains on a node that has the text, not the file)."""
        shutil.copyfile(spec_path, self.path / "spec.mech")
        _atomic_write_bytes(self.path / "ir.json", ir.to_json().encode())
        meta = {"spec": str(shown or spec_path), "sets": sets, "config": asdict(config), "ir_hash": ir.content_hash()}
        _atomic_write_bytes(self.path / "config.json", json.dumps(meta, indent=2).encode())
        with open(self.path / "metrics.csv", "w", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS, extrasaction="ignore").writeheader()

    def read_config(self) -> dict[str, Any]:
        meta = _read_json(self.path / "config.json")
        missing = [k for k in ("spec", "sets", "config", "ir_hash") if k not in meta]
        if missing or not isinstance(meta.get("config"), dict) or not isinstance(meta.get("sets"), dict):
            raise _damaged(self.path / "config.json", "missing or malformed " + ", ".join(missing or ["config/sets"]))
        return meta

    def read_ir(self) -> GameIR:
        path = self.path / "ir.json"
        try:
            return GameIR.from_json(path.read_text(encoding="utf-8"))
        except MechUsageError:
            raise
        except Exception as e:  # JSON or schema errors
            raise _damaged(path, f"{e.__class__.__name__}: {str(e).splitlines()[0][:200]}") from None

    def reopen(self, overrides: dict[str, str], spec_path: str, sets: dict[str, str]):
        """What `--resume` continues from: the saved IR, the saved config updated by
        `overrides`, the saved --set values, and the checkpoint (None before the first);
        the metrics are rewound to the checkpoint (later rows are replayed).

        The spec and --set given now must compile to the game the run was started with
        (no --set: the saved ones); anything else is refused rather than ignored."""
        from mechdsl import compile as compile_model, load
        from mechdsl.config import TrainConfig

        meta = self.read_config()
        if sets and sets != meta["sets"]:
            raise MechUsageError(
                f"--set {_show_sets(sets)} differs from the run's {_show_sets(meta['sets']) or '(none)'} in {self.path}",
                hint="resume with the run's --set values (or none), or start a new run without --resume")
        now = compile_model(load(spec_path, meta["sets"])).content_hash()
        if now != meta["ir_hash"]:
            raise MechUsageError(
                f"{spec_path} is not the spec {self.path} was started with (it compiles to another game)",
                hint=f"resume with the run's own copy: mechdsl train {self.path / 'spec.mech'} --out {self.path} --resume")
        try:
            config = TrainConfig().updated(meta["config"]).updated(overrides)
        except (KeyError, ValueError, TypeError) as e:
            raise _damaged(self.path / "config.json", f"bad training settings ({e})") from None
        from mechdsl.train import partial_blobs

        blob = self.load_checkpoint()
        rows = []
        for r in (blob or {}).get("done", []) + partial_blobs(blob):
            rows += [{"seed": r["seed"], **row} for row in r["curve"]]
        self.rewrite_metrics(rows)
        return self.read_ir(), config, meta["sets"], blob

    # -- metrics ----------------------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.path / "metrics.csv", "a", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS, extrasaction="ignore").writerow(row)

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """On resume: the metrics exactly as of the checkpoint (later rows are replayed)."""
        buf = self.path / "metrics.csv.tmp"
        with open(buf, "w", newline="") as f:
            w = csv.DictWriter(f, METRIC_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)
        os.replace(buf, self.path / "metrics.csv")

    def read_metrics(self) -> list[dict[str, float]]:
        with open(self.path / "metrics.csv", newline="") as f:
            return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]

    # -- checkpoints and results ----------------------------------------------------------
    def save_checkpoint(self, blob: dict[str, Any]) -> None:
        atomic_save(blob, self.path / "checkpoint.pt")
        self.checkpoints_saved += 1

    def load_checkpoint(self) -> Optional[dict[str, Any]]:
        return load_tensors(self.path / "checkpoint.pt")

    def save_policy(self, runs: list[dict[str, Any]]) -> None:
        atomic_save({"runs": runs}, self.path / "policy.pt")

    def load_policy(self) -> Optional[dict[str, Any]]:
        return load_tensors(self.path / "policy.pt")

    def write_summary(self, summary: dict[str, Any]) -> None:
        _atomic_write_bytes(self.path / "summary.json", json.dumps(summary, indent=2).encode())

    def read_summary(self) -> Optional[dict[str, Any]]:
        p = self.path / "summary.json"
        return _read_json(p) if p.is_file() else None

    # -- the training curve ---------------------------------------------------------------------
    def plot(self, curves: dict[int, list[dict[str, float]]], title: str, optimum_normalized: Optional[float] = None) -> Optional[Path]:
        return plot_curves(curves, self.path / "curve.png", title, optimum_normalized)

    # -- results ----------------------------------------------------------------------------
    def runs_so_far(self, ir: GameIR) -> list[dict[str, Any]]:
        """The seeds the checkpoint holds: finished ones as they ended, an interrupted one
        as the best greedy map it had shown (what `eval` and Ctrl-C report)."""
        from mechdsl.report import seed_from_checkpoint
        from mechdsl.train import partial_blobs

        ckpt = self.load_checkpoint() or {}
        runs = list(ckpt.get("done", []))
        runs += [seed_from_checkpoint(ir, self.read_config(), p) for p in partial_blobs(ckpt)]
        return sorted(runs, key=lambda r: int(r["seed"]))

    def write_results(self, ir: GameIR, runs: list[dict[str, Any]], config: dict[str, Any], spec: str,
                      sets: dict[str, str], solve_limit: int, title: str, interrupted: bool = False,
                      solve_seconds: Optional[float] = None) -> dict[str, Any]:
        """policy.pt, summary.json and the curve from `runs` -- at the end of training, or on
        Ctrl-C with the seeds so far (`interrupted` is then true in the summary)."""
        from mechdsl.report import build_report, report_result

        self.save_policy(runs)
        report = build_report(ir, runs, config_dict=config, spec=spec, sets=sets, solve_limit=solve_limit,
                              seconds=sum(float(r.get("seconds", 0.0)) for r in runs), solve_seconds=solve_seconds)
        report["run_dir"] = str(self.path)
        if interrupted:
            report["interrupted"] = True
        self.write_summary(report_result(report, "train"))  # the documented result (docs/results.md)
        self.plot({int(r["seed"]): r["curve"] for r in runs}, title, report.get("optimum_normalized"))
        return report
