"""Pure follower strategy profiles: every s_i(t_i) per follower and type, the action
profile each plays at each type profile, and each class's share of the leader's value."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from mechdsl.compiler.ir import GameIR
from mechdsl.evaluate import Tables
from mechdsl.solve.space import chunk, PolicySpace


@dataclass
class Profiles:
    """All pure follower strategy profiles: s_i(t_i) per follower and type."""

    strat: list[torch.Tensor]  # per follower [P, T_i] action index
    act: torch.Tensor  # [P, T] action profile played at each type profile

    @property
    def count(self) -> int:
        return self.act.shape[0]


def profile_count(ir: GameIR) -> int:
    return math.prod(a**t for a, t in zip(ir.action_counts, ir.type_counts))


def all_profiles(tb: Tables) -> Profiles:
    ir = tb.ir
    per = []
    for i in range(ir.n_followers):
        per.append(torch.tensor(list(itertools.product(range(ir.action_counts[i]), repeat=ir.type_counts[i])), dtype=torch.long))
    grids = torch.meshgrid(*[torch.arange(p.shape[0]) for p in per], indexing="ij") if per else []
    return profiles_of(tb, [per[i][grids[i].reshape(-1)] for i in range(len(per))])


def profiles_of(tb: Tables, strat: list[torch.Tensor]) -> Profiles:
    """The profiles given by each follower's strategies (per follower [P, T_i]), with the
    action profile each plays at each type profile."""
    ir = tb.ir
    P = strat[0].shape[0] if strat else 1
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
    act = torch.zeros(P, tb.T, dtype=torch.long)
    for i in range(ir.n_followers):
        act += strat[i][:, tb.tidx[:, i]] * strides[i]
    return Profiles(strat=strat, act=act)


def profile_table(space: PolicySpace, prof: Profiles) -> list[torch.Tensor]:
    """g_c[j, p]: class c's share of the leader's value when sub-policy j is used there
    and the followers play pure profile p."""
    tb = space.tb
    out = []
    for c in range(len(space.subs)):
        N = space.V[c].shape[0]
        Vfull = torch.zeros(N, tb.T, tb.A, dtype=tb.dtype)
        Vfull[:, :, torch.tensor(space.profiles[c], dtype=torch.long)] = space.V[c]
        parts = []
        step = chunk(prof.count, N * tb.T)
        for start in range(0, prof.count, step):
            act = prof.act[start:start + step]
            g = Vfull[:, torch.arange(tb.T).view(1, -1), act]  # [N_c, p, T]
            parts.append((g * tb.prior.view(1, 1, -1)).sum(-1))
        out.append(torch.cat(parts, 1))
    return out
