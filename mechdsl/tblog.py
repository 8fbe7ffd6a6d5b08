"""TensorBoard event files of a training run: one TensorBoard run per seed under
`<run dir>/tb/seed-<N>/`, so `tensorboard --logdir runs/` overlays seeds and runs.

Every metrics row becomes scalars at `global_step` = environment steps, under the tags
in `TAGS` (`eval/*`: the greedy map valued exactly; `rollout/*`: the sampled episodes;
`ppo/*`: the update's diagnostics, as CleanRL names them).  The writer is
`torch.utils.tensorboard.SummaryWriter`, imported only when a run logs (the `check`
and `compile` commands never import it).  On `--resume` the event files are rewritten
from the rewound metrics, so they always say what metrics.csv says.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Optional

# metrics.csv column -> TensorBoard tag
TAGS = {
    "value": "eval/greedy_value",
    "normalized": "eval/normalized_value",
    "best": "eval/best_value",
    "regret": "eval/regret",
    "greedy_reward": "eval/greedy_reward",
    "policy_gap": "eval/policy_gap",
    "policy_spread": "eval/policy_spread",
    "return": "rollout/return",
    "policy_loss": "ppo/policy_loss",
    "value_loss": "ppo/value_loss",
    "entropy": "ppo/entropy",
    "approx_kl": "ppo/approx_kl",
    "clipfrac": "ppo/clipfrac",
    "lr": "ppo/learning_rate",
    "explained_variance": "ppo/explained_variance",
    "seconds": "time/seconds",
}
FOLDER = "tb"


def available() -> bool:
    """Whether the `tensorboard` package (which SummaryWriter needs) is installed."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


class TBLogger:
    """Scalars of every metrics row, a writer per seed; a no-op when TensorBoard is
    missing (the run still has metrics.csv and the curve)."""

    def __init__(self, run_path: Path, enabled: bool = True):
        self.root = Path(run_path) / FOLDER
        self.enabled = enabled and available()
        self.writers: dict[int, Any] = {}

    def _writer(self, seed: int):
        w = self.writers.get(seed)
        if w is None:
            from torch.utils.tensorboard import SummaryWriter

            w = self.writers[seed] = SummaryWriter(log_dir=str(self.root / f"seed-{seed}"), flush_secs=10)
        return w

    def log(self, row: dict[str, Any]) -> None:
        """One evaluation row (with `seed` and `steps`)."""
        if not self.enabled:
            return
        w, step = self._writer(int(row["seed"])), int(row["steps"])
        for key, tag in TAGS.items():
            v = row.get(key)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                w.add_scalar(tag, float(v), step)

    def replay(self, rows: list[dict[str, Any]]) -> None:
        """Start the event files afresh from `rows` (on --resume: the rewound metrics)."""
        if not self.enabled:
            return
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)
        for row in rows:
            self.log(row)

    def summary(self, text: str, optimum: Optional[float], steps: dict[int, int]) -> None:
        """The final report as text and the exact optimum as a scalar (one point at each
        seed's last step), so TensorBoard shows how far the greedy value ended from it."""
        if not self.enabled:
            return
        for seed, last in steps.items():
            w = self._writer(seed)
            w.add_text("report", "```\n" + text + "\n```", last)
            if optimum is not None:
                w.add_scalar("eval/optimum", float(optimum), 0)
                w.add_scalar("eval/optimum", float(optimum), last)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()

    def __enter__(self) -> "TBLogger":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def read_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag under `path` (one seed's folder) -> [(step, value)], read back
    with TensorBoard's own loader (for tests and notebooks)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
