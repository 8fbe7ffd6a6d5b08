"""The best map that ignores the followers' actions (mechdsl/pooling.py): how a
sampled-mode seed ends.  Checked against an independent backward induction on the
n-agent sequential price mechanism of issue 9, exactly where exact mode can value the
answer, and on specs where it must not apply or must not be taken."""
from __future__ import annotations

import functools
import itertools

import pytest
import torch

from mechdsl.certificate import certify
from mechdsl.compiler import load, loads
from mechdsl.compiler.build import build_ir
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Policy
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.pooling import class_copies, pool
from mechdsl.sampled import SampledPOMDP
from mechdsl.train import rank
from tests.test_sampled import SPM_N  # issue 9's n-bidder sequential price mechanism

pytestmark = pytest.mark.usefixtures("one_thread")

NO_TALK = """agent worker {
    type cost ~ uniform [0.1, 0.3]
    action effort in {shirk, work}
}
leader {
    observe effort
    choose bonus in [0, 0.5]
}
table done[effort] = [0, 1]
utility worker = bonus - cost * done[effort]
objective = done[effort] - bonus
"""


def message_blind_optimum(n: int, grid=(0.0, 0.75)) -> float:
    """Backward induction by hand: with messages ignored the leader knows how many visits
    are left and which items remain; each bidder (iid values) buys its best item with
    utility >= 0, the first item on a tie."""
    values = list(itertools.product((0.0, 0.5, 1.0), repeat=2))

    def buys(v, left, p):
        best, bu = None, -1.0
        for i in sorted(left):
            if v[i] - p[i] >= 0 and v[i] - p[i] > bu:
                best, bu = i, v[i] - p[i]
        return best

    @functools.lru_cache(None)
    def worth(k: int, left: frozenset) -> float:
        if k == 0 or not left:
            return 0.0
        return max(sum(worth(k - 1, left) if (c := buys(v, left, p)) is None else v[c] + worth(k - 1, left - {c})
                       for v in values) / len(values) for p in itertools.product(grid, repeat=2))

    return worth(n, frozenset({0, 1}))


def random_map(ir, seed: int) -> Policy:
    g = torch.Generator().manual_seed(seed)
    legal = torch.as_tensor(ir.legal, dtype=torch.float64)
    return Policy(action=torch.multinomial(legal, 1, generator=g).T.contiguous())


def _key(e):
    return rank(e, 0.01)


def test_pooled_map_is_the_message_blind_optimum_exactly():
    ir = build_ir(loads(SPM_N, "spm3.mech", {"n": "3"}))
    p = SampledPOMDP(ir, mw=MWConfig.from_ir(ir), samples=20_000, seed=0)
    gmap = random_map(ir, 1)
    start = p.exact(gmap)
    out, est, rep = pool(p, gmap, start, _key, 20_000)
    assert rep.stopped == "taken" and rep.method == "pooled map" and rep.value == float(est.value[0])
    assert float(est.regret[0]) == 0.0  # messages change nothing: no follower can gain
    copies = class_copies(ir)
    assert all(torch.equal(out.action[0, copies[c]], out.action[0, copies[0]]) for c in range(len(copies)))
    optimum = message_blind_optimum(3)  # 1.469136
    assert abs(float(est.value[0]) - optimum) <= float(est.value_bound[0])
    ex = StackelbergPOMDP(ir, mw=MWConfig.from_ir(ir)).exact(out)  # three agents: exact mode can value it
    assert float(ex.regret[0]) == 0.0
    cert = certify(ir, out)  # every type of every bidder ties (2^27 joint readings), none moves the value
    assert cert.verdict == "certified" and cert.exact_readings and len(set(cert.values.values())) == 1
    assert optimum - 1e-3 <= float(ex.value[0]) <= optimum + 1e-12  # solved on 20,000 samples, not the prior
    again, _, _ = pool(p, gmap, start, _key, 20_000)
    assert torch.equal(again.action, out.action)  # deterministic


def test_pooling_needs_cheap_talk_and_copies_of_one_tree():
    ir = build_ir(loads(NO_TALK, "effort.mech"))
    p = SampledPOMDP(ir, mw=MWConfig.from_ir(ir), samples=2_000, seed=0)
    gmap = random_map(ir, 0)
    start = p.exact(gmap)
    out, est, rep = pool(p, gmap, start, _key, 20_000)
    assert rep.stopped.startswith("not run: the followers' actions change payoffs") and out is gmap and est is start
    solo = build_ir(load("specs/examples/contract.mech", {}))  # the leader observes nobody
    p = SampledPOMDP(solo, mw=MWConfig.from_ir(solo), samples=2_000, seed=0)
    _, _, rep = pool(p, random_map(solo, 0), p.exact(random_map(solo, 0)), _key, 20_000)
    assert rep.stopped == "not run: the leader observes no follower action"
    _, _, rep = pool(p, random_map(solo, 0), p.exact(random_map(solo, 0)), _key, 0)
    assert rep.stopped == "not run: off"


def test_a_map_that_uses_the_messages_well_is_kept():
    """spm_messages: with two messages every value is allocated efficiently (1.1); the
    best message-blind map earns less, so the learned optimum stays."""
    from mechdsl.solve import solve

    ir = build_ir(load("specs/paper/spm_messages.mech", {}))
    sol = solve(ir)
    gmap = Policy(action=torch.tensor([sol.actions]))
    p = SampledPOMDP(ir, mw=MWConfig.from_ir(ir), samples=20_000, seed=0)
    start = p.exact(gmap)
    out, est, rep = pool(p, gmap, start, _key, 20_000)
    assert rep.stopped.startswith("kept the map it was given") and out is gmap and est is start
    assert rep.evaluated > 0
