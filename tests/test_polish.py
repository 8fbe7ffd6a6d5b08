"""The exact hill climb that ends each seed (mechdsl/polish.py)."""
from __future__ import annotations

import torch

from mechdsl.compiler import load
from mechdsl.compiler.build import build_ir
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Policy
from mechdsl.polish import polish
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.train import rank

# A map training ends with on auction_revenue (seed 0 of the defaults): revenue 14/9,
# zero regret.  Its certified neighbours one or two classes away are worth no more; the
# 5/3 optimum is a pair move (regret 1/15 of bidder1's range) plus one repairing move.
LEARNED = [5, 4, 5, 2, 4, 1, 4, 1, 4, 1, 4, 1]


def _setup():
    ir = build_ir(load("specs/examples/auction_revenue.mech", {}))
    return StackelbergPOMDP(ir, mw=MWConfig.from_ir(ir, "pessimistic"))


def test_polish_reaches_the_knife_edge_optimum_through_a_repair_move(one_thread):
    pomdp = _setup()
    gmap = Policy(action=torch.tensor([LEARNED]))
    key = lambda e: rank(e, 0.01)  # noqa: E731
    out, ex, rep = polish(pomdp, gmap, pomdp.exact(gmap), key, 20_000)
    assert abs(rep.learned - 14 / 9) < 1e-9
    assert abs(float(ex.value[0]) - 5 / 3) < 1e-9 and float(ex.regret_fraction[0]) <= 0.01
    assert rep.steps == 1 and rep.moves[0].startswith("repair") and rep.stopped == "local optimum"
    again = pomdp.exact(out)  # the returned map is worth what the report says
    assert float(again.value[0]) == float(ex.value[0]) == rep.value


def test_polish_respects_its_budget_and_can_be_switched_off(one_thread):
    pomdp = _setup()
    gmap = Policy(action=torch.tensor([LEARNED]))
    key = lambda e: rank(e, 0.01)  # noqa: E731
    out, _, rep = polish(pomdp, gmap, pomdp.exact(gmap), key, 0)
    assert rep.stopped == "off" and torch.equal(out.action, gmap.action)
    # the one-class neighbourhood fits in 100 maps, the pairs do not
    out, ex, rep = polish(pomdp, gmap, pomdp.exact(gmap), key, 100)
    assert rep.stopped == "budget" and rep.evaluated <= 100 and abs(float(ex.value[0]) - 14 / 9) < 1e-9
