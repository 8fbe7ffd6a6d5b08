"""Progress of a training run on stderr (rich)."""
from __future__ import annotations

from typing import Any


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


class Progress:
    """A rich progress bar over all seeds' step budgets: steps, the current greedy
    leader value, time left (the budget's; runs usually stop earlier, at convergence)."""

    def __init__(self, config, disable: bool):
        self.config = config
        self.disable = disable
        self.bar = None
        self.offset: dict[int, int] = {}

    def __enter__(self):
        if self.disable:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]seed {task.fields[seed]}"), BarColumn(),
            TextColumn("{task.fields[steps]} steps  value {task.fields[value]}"), TimeElapsedColumn(),
            TextColumn("left"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("train", total=self.config.steps * self.config.seeds, seed="-", value="-", steps="0")
        return self

    def update(self, row: dict[str, Any]) -> None:
        if self.bar is None:
            return
        seed = int(row["seed"])
        k = seed - self.config.seed
        done = k * self.config.steps + int(row["steps"])
        self.bar.update(self.task, completed=min(done, self.config.steps * self.config.seeds),
                        seed=f"{seed} ({k + 1}/{self.config.seeds})", value=f"{row['value']:.4g}",
                        steps=_human(int(row["steps"])))

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.update(self.task, completed=self.config.steps * self.config.seeds)
            self.bar.__exit__(*exc)
        return False
