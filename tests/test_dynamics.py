"""Follower dynamics (mechdsl.dynamics): MW convergence, numerical safety, regret."""
from __future__ import annotations

import math

import pytest
import torch

from mechdsl.compiler.build import build_ir
from mechdsl.compiler.model import ActionRef, Choice, Const, Dynamics, Follower, Leader, Model, Table
from mechdsl.dynamics import (
    MWConfig,
    argmax_strategy,
    expected_mw,
    leader_value,
    pure,
    regret,
    sampled_mw,
)
from mechdsl.evaluate import Policy, Tables, evaluate
from tests.handmade import MAINTAIN, alloc_model, spm_model, table_model


pytestmark = pytest.mark.usefixtures("one_thread")


def _payoffs(model, actions):
    ir = build_ir(model)
    tb = Tables(ir)
    pay = evaluate(tb, Policy(action=torch.tensor([actions], dtype=torch.long)))
    return ir, tb, pay


def _two_player(table, rows=("A", "B")):
    """Two followers play `table[r][c] = (u_row, u_col)`; the leader has nothing to do."""
    cols = list(rows)

    def follower(name):
        return Follower(name=name, fields=[], type_labels=["-"], type_values={}, action_name="act",
                        action_labels=cols, action_values=[None] * len(cols))

    def ref(comp):
        return Table(name="g", values=[[list(c) for c in row] for row in table],
                     index=[ActionRef(agent=Const(value=0)), ActionRef(agent=Const(value=1)), Const(value=comp)])

    return Model(name="pair", followers=[follower("r"), follower("c")], prior=[1.0],
                 leader=Leader(choices=[Choice(name="noop", kind="label", labels=["x"], values=[None])]),
                 utilities=[ref(0), ref(1)], objective=Const(value=0.0), dynamics=Dynamics(equilibrium=200, reward=10))


def _label_action(ir, s, label):
    return next(k for k in range(ir.n_actions) if ir.legal[s][k] and ir.action_labels[s][k] == label)


def signalling_policy(ir):
    """The paper's two-message SPM on the handmade spm_model(2): if a1 says 1, visit a1
    at 0.75 then a2 at 0.25; otherwise visit a2 at 0.25 then a1 at 0."""
    act = [next(k for k in range(ir.n_actions) if ok) for ok in map(list, ir.legal)]
    for c, label in enumerate(ir.class_labels):
        r = ir.root[c]
        if "a1.message=1" in label:
            act[r] = _label_action(ir, r, "visit a1 at good=0.75")
            nxt = ir.round_next[r][0][0]
            act[nxt] = _label_action(ir, nxt, "visit a2 at good=0.25")
        else:
            act[r] = _label_action(ir, r, "visit a2 at good=0.25")
            nxt = ir.round_next[r][1][0]
            act[nxt] = _label_action(ir, nxt, "visit a1 at good=0")
    return act


# ---------------------------------------------------------------------------
# sampled MW (Algorithm 2) reaches what expected MW reaches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["maintain_row_a", "maintain_row_c", "dominant_pair", "allocation_truthful"],
)
def test_sampled_mw_converges_to_expected_argmax(case):
    if case.startswith("maintain"):
        ir, tb, pay = _payoffs(table_model(MAINTAIN), [0 if case.endswith("a") else 2])
        cfg = MWConfig(step=0.1, rounds=100, normalize=True)
        expect = [[0]] if case.endswith("a") else [[2]]
    elif case == "dominant_pair":
        # Monderer-Tennenholtz with tau = 5: A dominant for the row, B for the column
        tau = 5
        ir, tb, pay = _payoffs(_two_player([[(3 + tau, 3), (6, 4)], [(4, 6), (2, 2 + tau)]]), [0])
        cfg = MWConfig(step=0.1, rounds=200, normalize=True)
        expect = [[0], [1]]
    else:
        # one message per item: give the item named by the message
        model = alloc_model(3)
        ir = build_ir(model)
        act = [k for k in range(3)]  # class c (message c) -> item c
        ir, tb, pay = _payoffs(model, act)
        cfg = MWConfig(step=0.1, rounds=1000, normalize=True)
        expect = [[0, 1, 2]]
    exp = [s[0].tolist() for s in argmax_strategy(expected_mw(tb, pay.U, cfg))]
    assert exp == expect
    g = torch.Generator().manual_seed(1234)
    U = pay.U.expand(8, *pay.U.shape[1:])  # eight independent runs
    sam = argmax_strategy(sampled_mw(tb, U, cfg, g))
    for b in range(8):
        assert [s[b].tolist() for s in sam] == expect


def test_sampled_mw_update_is_algorithm_2():
    """One round by hand: the sampled type's weights grow by (1 + step)^payoff."""
    ir, tb, pay = _payoffs(table_model(MAINTAIN), [1])  # row B: follower payoffs 0, 5, 0
    cfg = MWConfig(step=0.5, rounds=1, normalize=False)
    lw = sampled_mw(tb, pay.U, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(lw[0][0, 0], torch.tensor([0.0, 5 * math.log(1.5), 0.0], dtype=torch.float64))


# ---------------------------------------------------------------------------
# numerical safety
# ---------------------------------------------------------------------------


def test_expected_mw_log_weights_finite_at_1e5_rounds():
    ir, tb, pay = _payoffs(table_model(MAINTAIN), [0])
    cfg = MWConfig(step=0.1, rounds=100_000, normalize=False)  # payoffs up to 15: w ~ 1.1^(1.5e6)
    lw = expected_mw(tb, pay.U, cfg)
    assert torch.isfinite(lw[0]).all()
    assert float(lw[0][0, 0, 0]) == pytest.approx(100_000 * 15 * math.log(1.1), rel=1e-9)
    assert [s.tolist() for s in argmax_strategy(lw)] == [[[0]]]
    strat = [torch.softmax(x, -1) for x in lw]
    assert torch.isfinite(strat[0]).all()


def test_sampled_mw_log_weights_finite_at_1e5_rounds_scale():
    """sampled_mw from log-weights of the size 1e5 rounds produce, then more rounds:
    nothing overflows (the weights are never exponentiated unshifted)."""
    ir, tb, pay = _payoffs(spm_model(2), signalling_policy(build_ir(spm_model(2))))
    cfg = MWConfig(step=0.1, rounds=500, normalize=True)
    start = [torch.full((1, t, a), 1e5 * math.log(1.1), dtype=torch.float64) for t, a in zip(ir.type_counts, ir.action_counts)]
    start[0][..., 0] += 3.0
    lw = sampled_mw(tb, pay.U, cfg, torch.Generator().manual_seed(3), logw=start)
    assert all(torch.isfinite(x).all() for x in lw)


@pytest.mark.slow
def test_sampled_mw_1e5_rounds():
    ir, tb, pay = _payoffs(table_model(MAINTAIN), [0])
    cfg = MWConfig(step=0.1, rounds=100_000, normalize=False)
    lw = sampled_mw(tb, pay.U, cfg, torch.Generator().manual_seed(0))
    assert torch.isfinite(lw[0]).all()
    assert [s.tolist() for s in argmax_strategy(lw)] == [[[0]]]


# ---------------------------------------------------------------------------
# regret (Definition 3.3) on hand-checked cases
# ---------------------------------------------------------------------------


def test_regret_normal_form_by_hand():
    ir, tb, pay = _payoffs(table_model(MAINTAIN), [0])  # row A: follower gets 15, 0, 0
    for col, want in [(0, 0.0), (1, 15.0), (2, 15.0)]:
        r = regret(tb, pay.U, pure([torch.tensor([[col]])], tb))
        assert float(r[0, 0, 0]) == pytest.approx(want)
    mixed = [torch.tensor([[[0.5, 0.0, 0.5]]], dtype=torch.float64)]
    assert float(regret(tb, pay.U, mixed)[0, 0, 0]) == pytest.approx(7.5)


def test_regret_zero_at_bne_and_positive_off_it():
    """spm_model(2) under the signalling policy.  Truthful a1 (low -> 0, high -> 1):
    low gets 1/2 * 0.5 = 0.25 by saying 0 and 0 by saying 1; high gets 2.5 - 0.75 = 1.75
    by saying 1 and 1/2 * 2.5 = 1.25 by saying 0: a BNE (a2's message is irrelevant).
    If high also says 0 it forgoes 1.75 - 1.25 = 0.5."""
    ir = build_ir(spm_model(2))
    ir, tb, pay = _payoffs(spm_model(2), signalling_policy(ir))
    truthful = pure([torch.tensor([[0, 1]]), torch.tensor([[0, 0]])], tb)
    r = regret(tb, pay.U, truthful)
    assert float(r.abs().max()) == pytest.approx(0.0, abs=1e-12)
    assert float(leader_value(tb, pay.V, truthful)[0]) == pytest.approx(1.1)
    pooling = pure([torch.tensor([[0, 0]]), torch.tensor([[0, 0]])], tb)
    r = regret(tb, pay.U, pooling)
    assert float(r[0, 0, 1]) == pytest.approx(0.5)
    assert float(r[0, 0, 0]) == pytest.approx(0.0, abs=1e-12)
    assert float(r[0, 1].abs().max()) == pytest.approx(0.0, abs=1e-12)


def test_expected_mw_finds_the_signalling_equilibrium():
    """The paper's two-message mechanism: MW (1000 rounds, step 0.1) settles on
    truthful signalling by agent 1, welfare 1.1, zero regret."""
    ir = build_ir(spm_model(2))
    ir, tb, pay = _payoffs(spm_model(2), signalling_policy(ir))
    strat = argmax_strategy(expected_mw(tb, pay.U, MWConfig.from_ir(ir)))
    assert strat[0][0].tolist() == [0, 1]
    S = pure(strat, tb)
    assert float(leader_value(tb, pay.V, S)[0]) == pytest.approx(1.1)
    assert float(regret(tb, pay.U, S).max()) == pytest.approx(0.0, abs=1e-12)


def test_argmax_ties_go_to_lowest_index():
    lw = [torch.tensor([[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]], dtype=torch.float64)]
    assert argmax_strategy(lw)[0].tolist() == [[1, 0]]
