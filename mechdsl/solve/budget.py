"""A wall-clock budget for one exact solve, checked between batches.

Why: a spec whose policy space fits `--limit` can still take hours, since every
sub-policy is rolled out on every type x action profile; `train`'s report must not hang
on its reference optimum, and a person running `solve` may want an answer by a time.
The budget is cooperative: the solver's loops call `check` between batches (an error
naming the stage) or `expired` where a best-so-far answer with a bound can be given
(branch and bound).  The deadline lives in a context variable so that every stage sees
the same one without threading a clock through each signature.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from mechdsl.compiler.errors import MechSizeError

_deadline: ContextVar[Optional[tuple[float, float]]] = ContextVar("solve_deadline", default=None)


@contextmanager
def time_budget(seconds: Optional[float]) -> Iterator[None]:
    """Within the block, `expired()` turns true `seconds` after entry (None: never)."""
    if seconds is None or seconds <= 0:
        token = _deadline.set(None)
    else:
        token = _deadline.set((time.monotonic() + float(seconds), float(seconds)))
    try:
        yield
    finally:
        _deadline.reset(token)


def expired() -> bool:
    d = _deadline.get()
    return d is not None and time.monotonic() >= d[0]


def seconds() -> Optional[float]:
    """The budget in force, in seconds (None: unlimited)."""
    d = _deadline.get()
    return None if d is None else d[1]


def check(stage: str) -> None:
    """Raise a size error when the budget is spent (`stage`: what was being done)."""
    if expired():
        raise MechSizeError(
            f"the exact solve ran past its time budget of {seconds():g} s while {stage}",
            hint="raise the budget (solve --seconds, train --solve-seconds), or use a coarser price grid, fewer "
                 "agents, types or messages",
        )
