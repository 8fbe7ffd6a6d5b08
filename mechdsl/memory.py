"""Estimate before allocating: how much memory a stage will need, checked against what
the machine has, so a spec too large gets a size error instead of an out-of-memory kill."""
from __future__ import annotations

import os

from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.ir import GameIR

MODES = ("auto", "exact", "sampled")  # mechdsl.config.TrainConfig.mode

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


# ---- exact or sampled (mechdsl.sampled) -------------------------------------------------------


def cell_bytes(ir: GameIR) -> int:
    """Peak bytes per simulated cell (rollout temporaries, expression intermediates): about
    1 kB measured at 5 agents x 2 items; this allows three times that, growing with agents x items."""
    return 1024 + 128 * ir.n_followers * (ir.n_items + 1)
EPISODE_BYTES_PER_SET = 48  # per episode and information set: maps, samples, encountered, decisions


def parse_bytes(text) -> int:
    """'4GB', '512 MB', '2e9' -> bytes (0: the default budget)."""
    s = str(text).strip().upper().replace(" ", "")
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * size)
    return int(float(s))


def budget_bytes(device: str = "cpu", budget: float = 0) -> int:
    """The memory budget: `budget` bytes when set, else `SHARE` of what is available now."""
    return int(budget) if budget and budget > 0 else int(available_bytes(device) * SHARE)


def exact_training_bytes(ir: GameIR, batch: int) -> int:
    return batch * payoff_bytes(ir, 1) * TRAIN_OVERHEAD


def sampled_training_bytes(ir: GameIR, batch: int, reward: int) -> int:
    """A sampled-mode iteration: one MW round's cells (batch x sum_i A_i), the reward phase's
    (batch x R, and x A_i when ties are read) simulated `mechdsl.cells.CHUNK` at a time, and
    per episode its weights and its information sets."""
    from mechdsl.cells import CHUNK

    acts = sum(ir.action_counts)
    cells = max(batch * acts, min(CHUNK, batch * reward * max(ir.action_counts or [1])))
    per_episode = (EPISODE_BYTES_PER_SET * ir.n_infosets + 16 * sum(t * a for t, a in zip(ir.type_counts, ir.action_counts))
                   + 8 * sum(ir.type_counts))
    return min(cells, CHUNK) * cell_bytes(ir) + batch * per_episode + 64 * ir.n_infosets * ir.n_actions


def choose_mode(ir: GameIR, mode: str, episodes: int, eval_episodes: int, population: int, reward: int,
                device: str = "cpu", budget: float = 0) -> str:
    """`exact` or `sampled` for a training run: `auto` is exact when the payoff tensors fit
    the budget, else sampled; a run too large even for sampled mode is a size error."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    batch = population * (episodes + eval_episodes)
    have = budget_bytes(device, budget)
    exact_need = exact_training_bytes(ir, batch)
    if mode == "exact" or (mode == "auto" and exact_need <= have):
        if exact_need > have:
            per_map = payoff_bytes(ir, 1) * TRAIN_OVERHEAD
            fits = max(0, have // max(1, per_map * population) - eval_episodes)
            _refuse(ir, exact_need, have, f"exact training ({batch} episodes per iteration over "
                    f"{ir.n_type_profiles:,} type profiles x {ir.n_action_profiles:,} action profiles)",
                    (f"use --mode sampled, or fewer episodes (-O episodes={fits} fits)" if fits >= 1 else
                     "use --mode sampled (or auto): even one episode's payoff tensors do not fit"))
        return "exact"
    need = sampled_training_bytes(ir, batch, reward)
    if need > have:
        _refuse(ir, need, have, f"sampled training ({batch} episodes per iteration, {ir.n_infosets:,} leader "
                "information sets)", "use fewer episodes (-O episodes=...), or fewer agents, items or prices: "
                "the information sets grow with them")
    return "sampled"


def check_training(ir: GameIR, episodes: int, eval_episodes: int, population: int, device: str = "cpu",
                   mode: str = "exact", budget: float = 0) -> str:
    """`choose_mode` with the spec's reward sub-episodes: the mode, or a size error."""
    return choose_mode(ir, mode, episodes, eval_episodes, population, ir.model.dynamics.reward, device, budget)


def _refuse(ir: GameIR, need: int, have: int, what: str, hint: str) -> None:
    followers = ir.model.followers
    raise MechSizeError(f"{what} needs about {fmt_bytes(need)} of memory; the budget is {fmt_bytes(have)}",
                        hint=hint, span=followers[0].span if followers else None, path=ir.model.path or "")


def exact_fits(ir: GameIR, device: str = "cpu", budget: float = 0, overhead: int = TRAIN_OVERHEAD) -> bool:
    """Whether one policy's exact payoff tensors (and their intermediates) fit the budget."""
    return payoff_bytes(ir, 1) * overhead <= budget_bytes(device, budget)


def require_exact(ir: GameIR, what: str, hint: str, device: str = "cpu", budget: float = 0) -> None:
    """Refuse before building payoff tensors for even one policy that would not fit."""
    need, have = payoff_bytes(ir, 1) * TRAIN_OVERHEAD, budget_bytes(device, budget)
    if need > have:
        _refuse(ir, need, have, f"{what} ({ir.n_type_profiles:,} type profiles x {ir.n_action_profiles:,} "
                f"action profiles, every payoff exact)", hint)
