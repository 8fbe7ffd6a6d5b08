"""Progress of a training run on stderr (rich): one bar per seed against that seed's
step budget, with the current greedy value, the measured steps per second and the time
left.  The time left is the rest of the budget at the speed measured over this seed's
last evaluations (`SeedClock`), counting down between them; with more seeds to come it
also says when all of them would end at that speed.  Seeds usually stop earlier, at
convergence, so both are upper bounds; a finished seed's bar shows where it stopped.
Seeds trained in parallel (`--workers`) each keep their bar; "all" then counts the seeds
still to come in the same worker."""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Optional

WINDOW = 8  # evaluations the speed is measured over


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def _clock(seconds: Optional[float]) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    if seconds is None:
        return "-:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class SeedClock:
    """Steps and seconds of one seed's evaluations (its own clock: a resumed seed counts
    the time before the interruption too), and the time its budget still needs."""

    def __init__(self, budget: int):
        self.budget = budget
        self.marks: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (seconds, steps)
        self.seen = time.monotonic()

    def add(self, steps: float, seconds: float) -> None:
        self.marks.append((float(seconds), float(steps)))
        self.seen = time.monotonic()

    @property
    def steps(self) -> float:
        return self.marks[-1][1] if self.marks else 0.0

    @property
    def seconds(self) -> float:
        return self.marks[-1][0] if self.marks else 0.0

    def rate(self) -> Optional[float]:
        """Steps per second over the last evaluations (over the whole seed until there
        are two)."""
        if len(self.marks) >= 2:
            (t0, s0), (t1, s1) = self.marks[0], self.marks[-1]
            if t1 > t0 and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        if self.marks and self.seconds > 0 and self.steps > 0:
            return self.steps / self.seconds
        return None

    def left(self, now: Optional[float] = None) -> Optional[float]:
        """Seconds until the budget is spent at the measured speed, counted down since
        the last evaluation."""
        rate = self.rate()
        if rate is None:
            return None
        since = (time.monotonic() if now is None else now) - self.seen
        return max(0.0, (self.budget - self.steps) / rate - since)


def _columns():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task) -> Text:
            rate = task.fields["clock"].rate()
            return Text("" if rate is None else f"{_human(rate)}/s", style="progress.data.speed")

    class Left(ProgressColumn):
        max_refresh = 0.5

        def render(self, task) -> Text:
            clock, state = task.fields["clock"], task.fields["state"]
            if state:
                return Text(f"{_clock(clock.seconds)} {state}", style="progress.elapsed")
            left = clock.left()
            text = f"{_clock(clock.seconds + time.monotonic() - clock.seen)} < {_clock(left)} left"
            later = task.fields["later"]
            if later and left is not None:
                text += f" (all {_clock(left + later * clock.budget / clock.rate())})"
            return Text(text, style="progress.remaining")

    return Speed, Left


class Progress:
    """The bars of a training run: rows come from `train`'s callback, one per evaluation."""

    def __init__(self, config, disable: bool, console=None, workers: int = 1):
        self.config = config
        self.disable = disable
        self.console = console
        self.workers = max(1, workers)
        self.bar = None
        self.tasks: dict[int, Any] = {}  # seed -> rich task id
        self.clocks: dict[int, SeedClock] = {}
        self.current: Optional[int] = None
        self.finished: set[int] = set()

    def __enter__(self):
        if self.disable:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn
        from rich.table import Column

        Speed, Left = _columns()
        self.bar = Progress(
            TextColumn("[bold]seed {task.fields[seed]}"), BarColumn(bar_width=10),
            TextColumn("{task.fields[steps]} steps value {task.fields[value]}"), Speed(),
            Left(table_column=Column(no_wrap=True)),
            console=self.console or Console(stderr=True), transient=False,
        )
        self.bar.__enter__()
        return self

    def _finish(self, seed: int, state: str) -> None:
        if seed in self.finished:
            return
        self.finished.add(seed)
        clock = self.clocks[seed]
        total = clock.steps if state == "done" else self.config.steps
        self.bar.update(self.tasks[seed], total=max(total, 1), completed=clock.steps, state=state)

    def update(self, row: dict[str, Any]) -> None:
        if self.bar is None:
            return
        seed = int(row["seed"])
        if seed not in self.tasks:
            if self.current is not None and self.workers == 1:
                self._finish(self.current, "done")
            k = seed - self.config.seed
            self.clocks[seed] = SeedClock(self.config.steps)
            self.tasks[seed] = self.bar.add_task(
                "train", total=self.config.steps, seed=f"{seed} ({k + 1}/{self.config.seeds})", value="-",
                steps="0", clock=self.clocks[seed], state="", later=(self.config.seeds - k - 1) // self.workers)
            self.current = seed
        self.clocks[seed].add(row["steps"], row["seconds"])
        self.bar.update(self.tasks[seed], completed=min(int(row["steps"]), self.config.steps),
                        value=f"{row['value']:.4g}", steps=f"{_human(int(row['steps']))}/{_human(self.config.steps)}")

    def end(self, seed: int) -> None:
        """`seed` has finished (train's `on_seed_end`)."""
        if self.bar is not None and seed in self.tasks:
            self._finish(seed, "done")

    def __exit__(self, *exc):
        if self.bar is not None:
            state = ("done" if exc[0] is None else
                     "interrupted" if issubclass(exc[0], KeyboardInterrupt) else "failed")
            for seed in self.tasks:
                self._finish(seed, state)
            self.bar.__exit__(*exc)
        return False
