"""The exact solver (mechdsl.solve, `mechdsl solve`): the paper's values, the
favourable model, mixed commitments, size limits, and the solver's shortcuts
(merging, pruning, batched MW) against brute force."""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from scipy.optimize import linprog

from mechdsl.compiler.build import build_ir
from mechdsl.compiler.model import (
    ActionRef,
    Binary,
    Choice,
    ChoiceRef,
    Const,
    Dynamics,
    Follower,
    If,
    Item,
    Leader,
    Model,
    Outcome,
    Rounds,
    Table,
    TypeField,
)
from mechdsl import solve as S
from mechdsl.solve import batch_mw as BM, mw_search as MS, profiles as PR, space as SP
from mechdsl.cli import main
from mechdsl.dynamics import MWConfig, argmax_strategy, expected_mw, leader_value, pure, regret
from mechdsl.evaluate import Policy, Tables, evaluate, single_thread
from mechdsl.ties import play
from tests.handmade import ESCAPE, MAINTAIN, alloc_model, spm_model, table_model

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "specs" / "paper"
EXAMPLES = ROOT / "specs" / "examples"


pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


_CACHE: dict = {}


def solve_json(spec: Path, *extra: str) -> dict:
    key = (str(spec), extra)
    if key not in _CACHE:
        res = run("solve", spec, "--json", *extra)
        assert res.exit_code == 0, res.output
        _CACHE[key] = json.loads(res.stdout)
    return _CACHE[key]


def max_regret(sol: dict) -> float:
    return max(v for per in sol["regret"].values() for v in per.values())


# ---------------------------------------------------------------------------
# the paper's settings through `mechdsl solve --json`
# ---------------------------------------------------------------------------


def test_json_has_the_documented_fields():
    sol = solve_json(PAPER / "escape.mech")
    for key in ("value", "policy", "follower_strategies", "regret", "exact", "follower_model",
                "policies_enumerated", "seconds"):
        assert key in sol
    assert sol["follower_model"] == "mw"


def test_escape_row_c():
    sol = solve_json(PAPER / "escape.mech")
    assert sol["value"] == pytest.approx(30)
    assert sol["exact"] is True
    assert [e["action"] for e in sol["policy"]] == ["row=C"]
    assert list(sol["follower_strategies"]["follower"].values()) == ["C"]


def test_maintain_pure_row_a():
    sol = solve_json(PAPER / "maintain.mech")
    assert sol["value"] == pytest.approx(20)
    assert [e["action"] for e in sol["policy"]] == ["row=A"]
    assert max_regret(sol) == 0


def test_maintain_mixed_is_a_supremum():
    sol = solve_json(PAPER / "maintain_mixed.mech")
    assert sol["value"] == pytest.approx(27.5)
    assert sol["exact"] is False and sol["supremum"] is True
    assert "supremum" in sol["note"]
    (mix,) = [e["distribution"] for e in sol["policy"]]
    assert 0.25 < mix["row=A"] < 0.26  # A with probability just above 1/4
    assert mix["row=A"] + mix["row=B"] == pytest.approx(1.0)
    assert 27.4 < sol["policy_value"] < 27.5  # the interior policy really earns close to 27.5
    assert list(sol["follower_strategies"]["follower"].values()) == ["A"]


def test_matrix_design_no_payment_in_equilibrium():
    sol = solve_json(PAPER / "matrix_design.mech")
    assert sol["value"] == pytest.approx(1)
    row = list(sol["follower_strategies"]["row_player"].values())[0]
    col = list(sol["follower_strategies"]["col_player"].values())[0]
    assert row != col  # different actions: the promised payment (on the diagonal) is never made
    assert max_regret(sol) == 0


@pytest.mark.parametrize("messages, value", [(1, 1 / 3), (2, 2 / 3), (3, 1.0)])
def test_allocation_value_per_message_count(messages, value):
    sol = solve_json(PAPER / "allocation.mech", "--set", f"messages={messages}")
    assert sol["value"] == pytest.approx(value)
    assert max_regret(sol) == 0


def test_spm_messages_two_messages_first_best():
    sol = solve_json(PAPER / "spm_messages.mech")
    assert sol["value"] == pytest.approx(1.1)  # E[max value]: the allocation is always efficient
    assert sol["exact"] is True
    assert max_regret(sol) == pytest.approx(0, abs=1e-12)
    assert sol["distinct_subpolicies"] == [19, 19, 19, 19]
    assert sol["policies_total"] == 19**4
    assert len(sol["reached_classes"]) + len(sol["unreached_classes"]) == 4


def test_spm_messages_one_message():
    # grid [0, .25, .75, 1.75]; ties buy, so an agent with value 0 buys at price 0:
    # visit a2 at 0.25, then a1 at 0 -> 0.5 * 1 + 0.5 * E[v1] = 0.5 + 0.5 * 0.9 = 0.95
    sol = solve_json(PAPER / "spm_messages.mech", "--set", "messages=1")
    assert sol["value"] == pytest.approx(0.95)


def test_text_output_describes_the_mechanism():
    res = run("solve", PAPER / "spm_messages.mech", "--set", "messages=1")
    assert res.exit_code == 0, res.output
    assert "welfare = 0.95" in res.output
    assert "visit bidder2 at good=0.25" in res.output
    assert "if bidder2 passes: visit bidder1 at good=0" in res.output
    # unreached classes are marked (the tie-robust two-message answer reaches all four;
    # the auction's answer leaves two unreached)
    sol = S.Solution.model_validate(solve_json(EXAMPLES / "auction_revenue.mech"))
    from mechdsl.options import load_ir

    text = S.describe(load_ir(str(EXAMPLES / "auction_revenue.mech"), ()), sol)
    assert text.count("(not reached)") == len(sol.unreached_classes) == 2
    assert "Followers" in text and "bidder1 (message)" in text


def test_mixed_text_shows_probabilities():
    res = run("solve", PAPER / "maintain_mixed.mech")
    assert res.exit_code == 0
    assert "row: A 0.25" in res.output and "supremum" in res.output


def test_examples():
    """docs/solutions.md's answers for specs/examples."""
    sol = solve_json(EXAMPLES / "posted_price.mech")
    assert sol["value"] == pytest.approx(0.36)  # p * P(v >= p) is largest at p = 0.6
    assert [e["action"] for e in sol["policy"]] == ["visit buyer at good=0.6"]

    sol = solve_json(EXAMPLES / "security_game.mech")
    assert sol["value"] == pytest.approx(-23 / 11) and sol["supremum"]
    assert -23 / 11 - 0.01 < sol["policy_value"] < -23 / 11
    sol = solve_json(EXAMPLES / "security_game.mech", "--follower-model", "favourable")
    assert sol["value"] == pytest.approx(-23 / 11) and sol["exact"]
    (mix,) = [e["distribution"] for e in sol["policy"]]
    assert [mix[f"cover=t{i}"] for i in (1, 2, 3)] == pytest.approx([21 / 44, 15 / 44, 2 / 11])

    # pure bundling at 2.5 sells to the three profiles worth 3 or 4
    sol = solve_json(EXAMPLES / "bundling.mech")
    assert sol["value"] == pytest.approx(1.875) and sol["certificate"]["verdict"] == "certified"
    assert solve_json(EXAMPLES / "bundling.mech", "--follower-model", "favourable")["value"] == pytest.approx(1.875)

    # moral hazard: high effort needs a wage >= 2; at 2 the agent is indifferent
    sol = solve_json(EXAMPLES / "contract.mech")
    assert sol["value"] == pytest.approx(5.625) and sol["certificate"]["verdict"] == "certified"
    assert solve_json(EXAMPLES / "contract.mech", "--follower-model", "favourable")["value"] == pytest.approx(6)
    favourable = solve_json(EXAMPLES / "contract.mech", "--ties", "favourable")
    assert favourable["value"] == pytest.approx(6) and favourable["certificate"]["values"]["pessimistic"] == pytest.approx(2)

    # Bayesian: -1/2 as the cover of t1 rises to 3/5, where kind 0 turns indifferent
    sol = solve_json(EXAMPLES / "bayesian_security.mech")
    assert sol["value"] == pytest.approx(-0.5) and sol["supremum"]
    assert -0.5 - 0.01 < sol["policy_value"] < -0.5
    sol = solve_json(EXAMPLES / "bayesian_security.mech", "--follower-model", "favourable")
    assert sol["value"] == pytest.approx(-0.5) and sol["exact"]

    # a low agent earns 0 whatever it says: read against the leader, it sends the message
    # that hides the high agent in one of the two one-high states (0.4 + 0.2); read as the
    # paper's code does (first action), both reveal and the first best 1 is reached
    assert solve_json(EXAMPLES / "correlated.mech")["value"] == pytest.approx(0.6)
    assert solve_json(EXAMPLES / "correlated.mech", "--ties", "first")["value"] == pytest.approx(1.0)

    # three i.i.d. unit-demand agents at price 0.5: every order sells the same; count it
    count = 0
    for vals in itertools.product(itertools.product([0, 1], repeat=2), repeat=3):
        left = right = True
        for v in vals:
            if left and v[0]:
                left, count = False, count + 1
            elif right and v[1]:
                right, count = False, count + 1
    assert count == 105
    assert solve_json(EXAMPLES / "spm_three_agents.mech")["value"] == pytest.approx(105 / 64)

    sol = solve_json(EXAMPLES / "auction_revenue.mech")  # pessimistic ties: an equilibrium
    assert sol["value"] == pytest.approx(5 / 3) and max_regret(sol) == pytest.approx(0, abs=1e-9)
    assert sol["certificate"]["verdict"] == "certified"
    sol = solve_json(EXAMPLES / "auction_revenue.mech", "--ties", "first")
    assert sol["value"] == pytest.approx(16 / 9)  # MW after 500 rounds, not yet an equilibrium
    assert sol["regret"]["bidder1"]["value=3"] == pytest.approx(0.5)
    assert sol["certificate"]["verdict"] == "not certified"
    sol = solve_json(EXAMPLES / "auction_revenue.mech", "--follower-model", "favourable")
    assert sol["value"] == pytest.approx(5 / 3) and max_regret(sol) == pytest.approx(0, abs=1e-9)


# ---------------------------------------------------------------------------
# the favourable follower model
# ---------------------------------------------------------------------------


def test_favourable_maintain_mixed_attains_27_5():
    sol = solve_json(PAPER / "maintain_mixed.mech", "--follower-model", "favourable")
    assert sol["value"] == pytest.approx(27.5)
    assert sol["exact"] is True
    (mix,) = [e["distribution"] for e in sol["policy"]]
    assert mix["row=A"] == pytest.approx(0.25, abs=1e-9)
    assert max_regret(sol) == pytest.approx(0, abs=1e-9)  # the follower is indifferent, breaks the tie for A


@pytest.mark.parametrize(
    "spec, extra, value",
    [
        (PAPER / "escape.mech", (), 30.0),
        (PAPER / "maintain.mech", (), 20.0),
        (PAPER / "allocation.mech", ("--set", "messages=2"), 2 / 3),
        (PAPER / "spm_messages.mech", (), 1.1),
        (PAPER / "matrix_design.mech", (), 1.0),
    ],
)
def test_favourable_values(spec, extra, value):
    sol = solve_json(spec, "--follower-model", "favourable", *extra)
    assert sol["value"] == pytest.approx(value)
    assert max_regret(sol) == pytest.approx(0, abs=1e-9)


def test_favourable_equals_enumeration_on_small_specs():
    """MILP per profile = brute force over every pure policy and every zero-regret profile."""
    for model in (alloc_model(2), spm_model(1), table_model(ESCAPE)):
        ir = build_ir(model)
        assert S.solve(ir, "favourable").value == pytest.approx(_brute_favourable(ir))


def _brute_favourable(ir) -> float:
    tb = Tables(ir)
    space = SP.build_space(ir, tb, 10**6)
    idx = SP.unrank(torch.arange(space.total), space.counts)
    U, V = space.assemble(idx)
    prof = PR.all_profiles(tb)
    best = -math.inf
    for p in range(prof.count):
        strat = pure([s[p].expand(space.total, -1) for s in prof.strat], tb)
        ok = regret(tb, U, strat).amax((1, 2)) <= 1e-9
        if ok.any():
            best = max(best, float(leader_value(tb, V, strat)[ok].max()))
    return best


# ---------------------------------------------------------------------------
# mixed choices followed by rounds: binaries pick one round sub-policy per choice
# ---------------------------------------------------------------------------


def _priced_maintain() -> Model:
    """Maintain with a mixed row, then the leader posts a price (0.5 or 2) to the
    follower (value 1) for an item; a sale is worth 4 x the price to the leader after
    row B and costs it that much after row A.  The best commitment mixes A 1/4, B 3/4
    (follower on column A, 27.5) with no sale after A and a sale at 0.5 after B
    (+ 0.75 * 2): 29 -- so each mixed row needs its own round sub-policy."""
    f = Follower(name="follower", fields=[TypeField(name="value", kind="scalar")], type_labels=["value=1"],
                 type_values={"value": [1.0]}, action_name="col", action_labels=list("ABC"), action_values=[None] * 3)

    def ref(comp):
        return Table(name="game", values=[[list(c) for c in row] for row in MAINTAIN],
                     index=[ChoiceRef(name="row"), ActionRef(agent=Const(value=0)), Const(value=comp)])

    paid = Outcome(what="paid", agent=Const(value=0))
    surplus = Binary(op="-", left=Outcome(what="worth", agent=Const(value=0)), right=paid)
    u = Binary(op="+", left=ref(1), right=Binary(op="*", left=Const(value=4.0), right=surplus))
    after_b = Binary(op="==", left=ChoiceRef(name="row"), right=Const(value=1))
    sale = If(cond=after_b, then=Binary(op="*", left=Const(value=4.0), right=paid),
              orelse=Binary(op="*", left=Const(value=-4.0), right=paid))
    return Model(name="priced_maintain", items=[Item(name="good")], followers=[f], prior=[1.0],
                 leader=Leader(choices=[Choice(name="row", kind="label", labels=list("ABC"), values=[None] * 3, mixed=True)],
                               rounds=Rounds(price_kind="grid", grid=[0.5, 2.0])),
                 utilities=[u], objective=Binary(op="+", left=ref(0), right=sale),
                 dynamics=Dynamics(equilibrium=100, reward=10))


def _brute_mixed_favourable(ir) -> float:
    """Every assignment of prices at the round sets, then one LP per follower profile
    over the fee mixture in each class (one follower)."""
    tb = Tables(ir)
    K = len(ir.choose_actions)
    rounds = [s for s in range(ir.n_infosets) if ir.infosets[s].kind == "round"]
    legal = [[k for k in range(ir.n_actions) if ir.legal[s][k]] for s in rounds]
    C, T, A = len(ir.class_labels), ir.n_type_profiles, ir.n_action_profiles
    best = -math.inf
    for assign in itertools.product(*legal):
        Us, Vs = [], []
        for k in range(K):
            act = [0] * ir.n_infosets
            for s, a in zip(rounds, assign):
                act[s] = a
            for r in ir.root:
                act[r] = k
            pay = evaluate(tb, Policy(action=torch.tensor([act])))
            Us.append(pay.U[0, 0].numpy())
            Vs.append(pay.V[0].numpy())
        for prof in itertools.product(range(A), repeat=T):
            nv = C * K  # variable (c, k) -> c * K + k
            cobj = [0.0] * nv
            for t, a in enumerate(prof):
                for k in range(K):
                    cobj[ir.obs_class[a] * K + k] -= ir.prior[t] * Vs[k][t, a]
            A_ub, b_ub = [], []
            for t, a in enumerate(prof):
                for a2 in range(A):
                    row = [0.0] * nv
                    for k in range(K):
                        row[ir.obs_class[a] * K + k] -= Us[k][t, a]
                        row[ir.obs_class[a2] * K + k] += Us[k][t, a2]
                    A_ub.append(row)
                    b_ub.append(0.0)
            A_eq = [[1.0 if v // K == c else 0.0 for v in range(nv)] for c in range(C)]
            res = linprog(cobj, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0] * C, bounds=[(0, 1)] * nv)
            if res.status == 0:
                best = max(best, -res.fun)
    return best


def test_mixed_choice_then_rounds_matches_brute_force():
    ir = build_ir(_priced_maintain())
    fav = S.solve(ir, "favourable")
    assert fav.value == pytest.approx(_brute_mixed_favourable(ir), abs=1e-7)
    assert fav.value == pytest.approx(29.0)
    assert max(v for per in fav.regret.values() for v in per.values()) == pytest.approx(0, abs=1e-9)
    mw = S.solve(ir, "mw")
    assert mw.value == pytest.approx(29.0) and mw.supremum and not mw.exact
    assert 28.9 < mw.policy_value < 29.0
    text = S.describe(ir, mw)
    assert "if row = A:" in text and "visit follower at good=2" in text
    assert "if row = B:" in text and "visit follower at good=0.5" in text


# ---------------------------------------------------------------------------
# the search itself: merging, pruning and batched MW are exact
# ---------------------------------------------------------------------------


def test_handmade_signalling_policy_is_optimal():
    """The paper's mechanism (a1 signals; if a1 says 1 visit a1 at 0.75 then a2 at 0.25,
    else a2 at 0.25 then a1 at 0) reaches 1.1 under expected MW with zero regret, and
    nothing beats it (1.1 is E[max value], the first best)."""
    from tests.test_dynamics import signalling_policy

    ir = build_ir(spm_model(2))
    tb = Tables(ir)
    pay = evaluate(tb, Policy(action=torch.tensor([signalling_policy(ir)])))
    strat = pure(argmax_strategy(expected_mw(tb, pay.U, MWConfig.from_ir(ir))), tb)
    assert float(leader_value(tb, pay.V, strat)[0]) == pytest.approx(1.1)
    assert float(regret(tb, pay.U, strat).max()) == pytest.approx(0, abs=1e-12)
    # nothing beats it: test_spm_messages_two_messages_first_best solves the same game


@pytest.mark.parametrize("ties", ["pessimistic", "first", "favourable"])
@pytest.mark.parametrize("name", ["alloc2", "spm1", "correlated"])
def test_solve_equals_brute_force_with_reference_dynamics(name, ties):
    """Every raw policy through evaluate + expected_mw + the tie reading: the same best value."""
    if name == "correlated":
        from mechdsl.options import load_ir

        ir = load_ir(str(EXAMPLES / "correlated.mech"), ())
    else:
        ir = build_ir(alloc_model(2) if name == "alloc2" else spm_model(1))
    tb = Tables(ir)
    cfg = MWConfig.from_ir(ir, ties)
    per_class = [SP.enumerate_subpolicies(ir, r, 10**5) for r in ir.root]
    acts = []
    default = [next(k for k in range(ir.n_actions) if ir.legal[s][k]) for s in range(ir.n_infosets)]
    for combo in itertools.product(*per_class):
        act = list(default)
        for sub in combo:
            for s, k in sub.items():
                act[s] = k
        acts.append(act)
    pay = evaluate(tb, Policy(action=torch.tensor(acts)))
    strat = pure(play(tb, expected_mw(tb, pay.U, cfg), pay.V, ties)[0], tb)
    brute = float(leader_value(tb, pay.V, strat).max())
    assert S.solve(ir, ties=ties).value == pytest.approx(brute, abs=1e-9)


def test_pruning_never_changes_the_answer():
    from mechdsl.options import load_ir

    for ir in (load_ir(str(EXAMPLES / "auction_revenue.mech"), ()), build_ir(spm_model(1)), build_ir(alloc_model(3))):
        tb = Tables(ir)
        space = SP.build_space(ir, tb, 10**6)
        cfg = MWConfig.from_ir(ir)
        with single_thread():
            pruned = MS.search_mw(space, cfg, 10**6, prune=True)
            full = MS.search_mw(space, cfg, 10**6, prune=False)
        assert pruned[0] == full[0] and pruned[1] == pytest.approx(full[1])
        assert pruned[2] <= full[2] == space.total


def _random_ir(type_counts, action_counts, seed):
    """A model with the given shape (payoffs come from random tensors, not the model)."""
    g = torch.Generator().manual_seed(seed)
    fs = [
        Follower(name=f"f{i}", fields=[TypeField(name="k", kind="scalar")], type_labels=[f"k={t}" for t in range(tc)],
                 type_values={"k": [float(t) for t in range(tc)]}, action_name="a",
                 action_labels=[str(a) for a in range(ac)], action_values=[float(a) for a in range(ac)])
        for i, (tc, ac) in enumerate(zip(type_counts, action_counts))
    ]
    prior = torch.rand(math.prod(type_counts), generator=g, dtype=torch.float64)
    prior[0] = 0.0  # a type profile without mass
    prior = (prior / prior.sum()).tolist()
    model = Model(name="rand", followers=fs, prior=prior,
                  leader=Leader(choices=[Choice(name="x", kind="label", labels=["x"], values=[None])]),
                  utilities=[Const(value=0.0)] * len(fs), objective=Const(value=0.0),
                  dynamics=Dynamics(step=0.2, equilibrium=150, normalize=False))
    return build_ir(model), g


@pytest.mark.parametrize(
    "types, actions",
    [([3], [4]), ([2, 2], [2, 2]), ([2, 3], [3, 2]), ([2, 1, 2], [2, 3, 2])],
)
def test_batched_mw_matches_expected_mw(types, actions):
    ir, g = _random_ir(types, actions, seed=sum(types) * 7 + len(actions))
    tb = Tables(ir)
    cfg = MWConfig.from_ir(ir)
    U = torch.rand(16, ir.n_followers, ir.n_type_profiles, ir.n_action_profiles, generator=g, dtype=torch.float64)
    mw = BM.BatchMW(tb, cfg)
    W = mw.matrices(U)
    fast = mw.run(W)
    ref = expected_mw(tb, U, cfg)
    for a, b in zip(fast, ref):
        assert torch.allclose(a, b, atol=1e-9, rtol=1e-12)
    idx = argmax_strategy(ref)
    assert torch.allclose(mw.regret(W, idx), regret(tb, U, pure(idx, tb)).amax((1, 2)), atol=1e-12)
    # a dominated action is never the argmax
    for dom, s in zip(mw.dominated(W), idx):
        assert not dom.gather(2, s.unsqueeze(-1)).any()


# ---------------------------------------------------------------------------
# limits and the command line
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        # past --limit, `mw` goes to branch and bound (tests/test_branch.py); the other models stop
        ((PAPER / "spm_grid.mech", "--follower-model", "swap"), ["3.1e6 leader policies", "limit 1e6"]),
        ((PAPER / "spm_messages.mech", "--set", "messages=3", "--follower-model", "swap"), ["leader policies", "limit"]),
        ((PAPER / "spm_messages.mech", "--limit", "1000", "--follower-model", "qlearning"),
         ["1.3e5 leader policies", "limit 1000"]),
        ((PAPER / "spm_messages_interval.mech",), ["interval", "finite grid"]),
        ((PAPER / "matrix_design_continuous.mech",), ["continuous choice 'tau'", "linspace(0, 10, 21)"]),
    ],
)
def test_too_large_exits_2_with_the_size(args, words):
    res = run("solve", *args)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    for w in words:
        assert w in res.output
    assert "error:" in res.output


def test_spm_grid_is_within_reach_of_the_favourable_model():
    sol = solve_json(PAPER / "spm_grid.mech", "--follower-model", "favourable")
    assert sol["value"] == pytest.approx(0.7)  # E[max of two values uniform on {0, .25, .5, .75, 1}]
    assert max_regret(sol) == pytest.approx(0, abs=1e-9)


def test_help_has_an_example():
    res = run("solve", "--help")
    assert res.exit_code == 0
    assert "Example" in res.output and "mechdsl solve specs/" in res.output
    assert "--follower-model" in res.output and "--json" in res.output


def test_unknown_follower_model_is_rejected():
    from mechdsl.compiler.errors import MechUsageError

    with pytest.raises(MechUsageError):
        S.solve(build_ir(table_model(MAINTAIN)), follower_model="nash")
