"""Estimate before allocating: how much memory a stage will need, checked against what
the machine has, so a spec too large gets a size error instead of an out-of-memory kill."""
from __future__ import annotations

import os

from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.ir import GameIR

# Peak memory of a training iteration over its payoff tensors U, V ([B, n+1, T, A] float64):
# 17x measured on a 3-agent sequential price spec (expression intermediates, the rounds
# simulation, MW weights); 20x keeps a margin.
TRAIN_OVERHEAD = 20
SHARE = 0.8  # of the memory available now


def available_bytes(device: str = "cpu") -> int:
    """Memory available now on `device` (CPU: Linux's MemAvailable, else physical memory)."""
    if device != "cpu":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def fmt_bytes(n: float) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def payoff_bytes(ir: GameIR, batch: int) -> int:
    """Bytes of the payoff tensors of `batch` policies: U [B, n, T, A] and V [B, T, A]."""
    return 8 * batch * (ir.n_followers + 1) * ir.n_type_profiles * ir.n_action_profiles


def require(need: int, what: str, hint: str, device: str = "cpu", ir: GameIR | None = None) -> None:
    """Refuse, with the estimate and what to change, when `need` bytes will not fit (at
    the first follower's declaration: the type and action profiles are what grows)."""
    budget = int(available_bytes(device) * SHARE)
    if need > budget:
        followers = ir.model.followers if ir is not None else []
        raise MechSizeError(f"{what} needs about {fmt_bytes(need)} of memory; {fmt_bytes(budget)} is available",
                            hint=hint, span=followers[0].span if followers else None,
                            path=ir.model.path if ir is not None else "")


def check_training(ir: GameIR, episodes: int, eval_episodes: int, population: int, device: str = "cpu") -> None:
    """A training iteration simulates population x (episodes + eval_episodes) maps at once."""
    batch = population * (episodes + eval_episodes)
    per_map = payoff_bytes(ir, 1) * TRAIN_OVERHEAD
    need = batch * per_map
    fits = max(0, int(available_bytes(device) * SHARE) // max(1, per_map * population) - eval_episodes)
    require(need, f"training ({batch} episodes per iteration over {ir.n_type_profiles} type profiles "
                  f"x {ir.n_action_profiles} action profiles)",
            hint=(f"use fewer episodes (-o episodes={fits} fits)" if fits >= 1 else
                  "use fewer agents, types or messages: even one episode does not fit"), device=device, ir=ir)
