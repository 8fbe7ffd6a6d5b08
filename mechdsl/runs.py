"""A training run on disk.  Nothing is ever overwritten silently: a new run gets a new
numbered directory, and only `--resume` continues an existing one.

    runs/<spec>/run-001/
        spec.mech        the spec as it was read
        ir.json          the compiled game (GameIR)
        config.json      the resolved TrainConfig, the spec path and its --set values
        metrics.csv      one row per greedy evaluation (all seeds)
        checkpoint.pt    resume state; written atomically (tmp + os.replace) every
                         `checkpoint_every` seconds, after each seed and on Ctrl-C
        policy.pt        the learned greedy maps of every seed (atomic)
        summary.json     value, optimum, gap, regret, steps, seconds, seeds, per seed
        curve.png        mean +- std over seeds of the normalized leader reward vs steps
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

from compiler.errors import MechUsageError
from compiler.ir import GameIR

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


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    # -- choosing the directory -----------------------------------------------------------
    @classmethod
    def new(cls, spec_path: str, out: Optional[str] = None, root: str = "runs") -> "RunDir":
        """A fresh directory: `out` if it is free (missing or empty), else `out-2`, `out-3`...;
        without `out`, the next `runs/<spec>/run-NNN`."""
        if out:
            base = Path(out)
            cand, k = base, 1
            while cand.exists() and any(cand.iterdir()):
                k += 1
                cand = base.with_name(f"{base.name}-{k}")
        else:
            parent = Path(root) / Path(spec_path).stem
            parent.mkdir(parents=True, exist_ok=True)
            nums = [int(m.group(1)) for p in parent.iterdir() if (m := re.fullmatch(r"run-(\d+)", p.name))]
            cand = parent / f"run-{max(nums, default=0) + 1:03d}"
        cand.mkdir(parents=True, exist_ok=True)
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
        runs = sorted(p for p in parent.glob("run-*") if (p / "config.json").is_file()) if parent.is_dir() else []
        if not runs:
            raise MechUsageError(f"no run of {spec_path} to resume under {parent}", hint="start one without --resume")
        return cls(runs[-1])

    # -- inputs ---------------------------------------------------------------------------
    def write_inputs(self, spec_path: str, ir: GameIR, config, sets: dict[str, str]) -> None:
        shutil.copyfile(spec_path, self.path / "spec.mech")
        _atomic_write_bytes(self.path / "ir.json", ir.to_json().encode())
        meta = {"spec": str(spec_path), "sets": sets, "config": asdict(config), "ir_hash": ir.content_hash()}
        _atomic_write_bytes(self.path / "config.json", json.dumps(meta, indent=2).encode())
        with open(self.path / "metrics.csv", "w", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS, extrasaction="ignore").writeheader()

    def read_config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    def read_ir(self) -> GameIR:
        return GameIR.from_json((self.path / "ir.json").read_text())

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

    def load_checkpoint(self) -> Optional[dict[str, Any]]:
        p = self.path / "checkpoint.pt"
        return torch.load(p, weights_only=False) if p.is_file() else None

    def save_policy(self, runs: list[dict[str, Any]]) -> None:
        atomic_save({"runs": runs}, self.path / "policy.pt")

    def load_policy(self) -> Optional[dict[str, Any]]:
        p = self.path / "policy.pt"
        return torch.load(p, weights_only=False) if p.is_file() else None

    def write_summary(self, summary: dict[str, Any]) -> None:
        _atomic_write_bytes(self.path / "summary.json", json.dumps(summary, indent=2).encode())

    def read_summary(self) -> Optional[dict[str, Any]]:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.is_file() else None

    # -- the training curve ---------------------------------------------------------------------
    def plot(self, curves: dict[int, list[dict[str, float]]], title: str, optimum_normalized: Optional[float] = None) -> Optional[Path]:
        return plot_curves(curves, self.path / "curve.png", title, optimum_normalized)


def plot_curves(curves: dict[int, list[dict[str, float]]], path: Path, title: str,
                optimum_normalized: Optional[float] = None) -> Optional[Path]:
    """The paper's figure: mean +- std over seeds of the greedy policy's normalized reward
    (the POMDP's reward phase) against environment steps; the exact value dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    curves = {s: c for s, c in curves.items() if c}
    if not curves:
        return None
    end = max(c[-1]["steps"] for c in curves.values())
    grid = np.linspace(0, end, 200)

    def held(rows, key):  # the value in force at each grid step (held after a run stops)
        xs = np.array([r["steps"] for r in rows])
        ys = np.array([r[key] for r in rows])
        idx = np.searchsorted(xs, grid, side="right") - 1
        return np.where(idx >= 0, ys[idx.clip(0)], np.nan)

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in (("greedy_reward", "reward (POMDP reward phase)", "-"), ("normalized", "exact value", "--")):
        ys = np.array([held(rows, key) for rows in curves.values()])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any evaluation
            mean, std = np.nanmean(ys, 0), np.nanstd(ys, 0)
        line = ax.plot(grid, mean, style, label=label)[0]
        if key == "greedy_reward":
            ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.25)
    if optimum_normalized is not None:
        ax.axhline(optimum_normalized, color="gray", lw=0.8, ls=":", label="optimum")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("normalized leader reward")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title} ({len(curves)} seed{'s' if len(curves) != 1 else ''})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
