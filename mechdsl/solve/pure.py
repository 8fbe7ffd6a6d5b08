"""Pure leader policies: the MW search and the leader-favourable MILP, each checked."""
from __future__ import annotations

import numpy as np

from mechdsl.dynamics import MWConfig
from mechdsl.solve.answer import Solution, _check, _finish, _none_found
from mechdsl.solve.mw_search import _search_mw
from mechdsl.solve.profile_lp import _solve_profiles
from mechdsl.solve.space import _Space


def _solve_pure_mw(space: _Space, cfg: MWConfig, limit: int) -> Solution:
    idx, value, ran, note = _search_mw(space, cfg, limit)
    actions = space.actions(idx)
    ref, strategies, reg = _check(space.tb, cfg, actions, None, None)
    if abs(ref - value) > 1e-7:
        note = (note + " " if note else "") + f"warning: batched MW gave {value:.10g}, reference {ref:.10g}"
    return _finish(space, "mw", ref, ref, True, False, actions, None, strategies, reg, note, enumerated=ran)


def _solve_pure_favourable(space: _Space, cfg: MWConfig) -> Solution:
    best, solved = _solve_profiles(space, None, strict=False)
    if best is None:
        return _none_found(space, "favourable", solved)
    idx = [int(np.argmax(x)) for x in best["xs"]]
    actions = space.actions(idx)
    ref, strategies, reg = _check(space.tb, cfg, actions, None, best["strategies"])
    note = "leader-favourable pure Bayes-Nash equilibrium"
    if float(reg.max()) > 1e-7:
        note += f"; warning: regret {float(reg.max()):.3g} at the reported profile"
    return _finish(space, "favourable", ref, ref, True, False, actions, None, strategies, reg, note, profiles=solved)
