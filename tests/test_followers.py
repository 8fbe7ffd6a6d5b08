"""The follower models (mechdsl.followers, docs/followers.md): mw, swap, qlearning,
favourable, pessimistic -- selected per spec and per command, solved exactly, stepped
by the POMDP and the env, certified with the notion each reaches.

Every expected value below is derived by hand in the comment beside it (the payoff
tables are in the specs' docstrings), never by calling the code under test."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mechdsl
from mechdsl.cli import main
from mechdsl.compiler import loads
from mechdsl.compiler.errors import MechError
from mechdsl.dynamics import MWConfig
from mechdsl.env import StackelbergEnv
from mechdsl.evaluate import Tables
from mechdsl.followers import MODELS, empirical_regrets
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.solve import solve
from mechdsl.swap import stationary

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "specs" / "paper"
EXAMPLES = ROOT / "specs" / "examples"


def compile_path(path: Path, **sets) -> mechdsl.GameIR:
    return mechdsl.compile(mechdsl.load(str(path), {k: str(v) for k, v in sets.items()}))


# -- the paper's specs: every model's solve value, derived by hand ----------------------------
#
# Maintain (Table 2): one follower, so every model's response to a row is the follower's
#   best column (one agent: CE = CCE = BNE = best response; Q-learning with epsilon > 0
#   learns every column's payoff).  Row A -> column A (15 > 0, 0): leader 20; row B ->
#   column B (5 > 0, 0): 10; row C -> column C (10 > 0, 0): 5.  Best responses are
#   unique, so favourable = pessimistic.  Optimum 20 (row A).
# Escape (Table 4): row C -> column C (30 > 0, 0) gives the leader 30, the largest entry
#   of its table, so 30 for every model.
# Matrix design (Table 3): the objective is at most 1; with tau >= 5, A is strictly
#   dominant for the row player (3 + tau > 4 and 6 > 2) and B for the column player
#   (4 > 3 and 2 + tau > 6), so every model -- dynamics drop strictly dominated actions,
#   and (A, B) is the unique BNE -- plays (A, B): objective 1.  Optimum 1.
# Allocation, 3 messages (Section 7.3): the objective is at most 1; the policy "message
#   k -> item k" makes each type's message unique best (payoff 1 vs 0), so every model
#   plays the truthful separating profile: 1.  Optimum 1.
PAPER_VALUES = [("maintain", {}, 20.0), ("escape", {}, 30.0), ("matrix_design", {}, 1.0),
                ("allocation", {"messages": 3}, 1.0)]


@pytest.mark.parametrize("name,sets,value", PAPER_VALUES)
@pytest.mark.parametrize("model", MODELS)
def test_paper_specs_every_model_solves_to_its_hand_checked_value(name, sets, value, model):
    ir = compile_path(PAPER / f"{name}.mech", **sets)
    sol = solve(ir, follower_model=model)
    assert sol.follower_model == model and sol.exact
    assert sol.value == pytest.approx(value, abs=1e-9)
    cert = sol.certificate
    assert cert.follower_model == model and cert.certified and cert.max_regret < 1e-9
    assert cert.notion  # the equilibrium notion is named
    assert (cert.max_swap_regret is None) == (model in ("favourable", "pessimistic"))


# A single follower indifferent between X and Y after row R (payoff 1 each; Z pays 0); the
# leader earns 10 at (R, X) and 0 at (R, Y); after row S the follower strictly prefers X
# (1 > 0) and the leader earns 5.  Leader-favourable BNE: row R, follower X -> 10.
# Leader-adverse: row R is worth 0 (follower Y), row S 5 -> 5.  The learning models keep
# X and Y exactly tied (identical payoffs, identical updates), so their value is the tie
# reading's: pessimistic 5, favourable 10.
INDIFFERENT = """
agent f { action col in {X, Y, Z} }
leader { choose row in {R, S} }
table t[row, col] = [
    [(10, 1), (0, 1), (0, 0)],
    [(5, 1), (0, 0), (0, 0)],
]
utility f = t[row, col][1]
objective = t[row, col][0]
"""


@pytest.mark.parametrize("model,ties,value", [
    ("favourable", None, 10.0), ("pessimistic", None, 5.0),
    ("mw", "pessimistic", 5.0), ("swap", "pessimistic", 5.0), ("qlearning", "pessimistic", 5.0),
    ("mw", "favourable", 10.0), ("swap", "favourable", 10.0), ("qlearning", "favourable", 10.0),
])
def test_favourable_and_pessimistic_equilibria_differ_where_the_follower_is_indifferent(model, ties, value):
    ir = mechdsl.compile(loads(INDIFFERENT))
    sol = solve(ir, follower_model=model, ties=ties)
    assert sol.value == pytest.approx(value)


# -- swap differs from mw where CE != CCE (specs/examples/ce_vs_cce.mech) -------------------------

def _reference_dynamics(model: str, rounds: int, step: float = 0.1):
    """Independent numpy versions of the expected MW and Blum-Mansour dynamics on
    ce_vs_cce's 3x3 game (payoffs / 9, its range): the final play and, per follower,
    (external, swap) regret of the time-averaged joint play in spec units."""
    U1 = np.array([[3, 9, 2], [4, 0, 9], [5, 1, 4]], float) / 9
    U2 = np.array([[4, 1, 9], [6, 3, 2], [0, 4, 2]], float) / 9

    def stationary_np(Q):
        w, v = np.linalg.eig(Q.T)
        x = np.real(v[:, np.argmin(abs(w - 1))])
        return x / x.sum()

    def play(x):
        if model == "mw":
            e = np.exp(x - x.max())
            return e / e.sum()
        Q = np.exp(x - x.max(1, keepdims=True))
        return stationary_np(Q / Q.sum(1, keepdims=True))

    r = np.log1p(step)
    x1, x2 = (np.zeros(3), np.zeros(3)) if model == "mw" else (np.zeros((3, 3)), np.zeros((3, 3)))
    M1, M2 = np.zeros((3, 3)), np.zeros((3, 3))
    for _ in range(rounds):
        s1, s2 = play(x1), play(x2)
        q1, q2 = U1 @ s2, s1 @ U2
        M1 += np.outer(s1, q1)
        M2 += np.outer(s2, q2)
        x1, x2 = (x1 + r * q1, x2 + r * q2) if model == "mw" else (x1 + r * np.outer(s1, q1), x2 + r * np.outer(s2, q2))
    regrets = []
    for M in (M1, M2):
        G = (M - np.diag(M)[:, None]) / rounds * 9
        regrets.append((max(G.sum(0).max(), 0.0), G.max(1).clip(min=0).sum()))
    return [int(np.argmax(play(x1))), int(np.argmax(play(x2)))], regrets


def test_swap_differs_from_mw_where_ce_and_cce_differ():
    """The game has no pure equilibrium, so the last round's play is where each
    dynamics' cycle has got to; the cycles differ because MW minimises external regret
    (its time-averaged play: a CCE, external regret ~0.1 of 9, but swap regret ~0.7:
    not a CE) and Blum-Mansour swap regret (~0.2).  After the spec's 1000 rounds the
    MW column player plays Z, the swap one X: objective 0 vs 1 (the spec's docstring)."""
    ir = compile_path(EXAMPLES / "ce_vs_cce.mech")
    mw_play, mw_reg = _reference_dynamics("mw", 1000)
    swap_play, swap_reg = _reference_dynamics("swap", 1000)
    assert mw_play[1] == 2 and swap_play[1] == 0  # column player: Z under MW, X under swap
    assert solve(ir, follower_model="mw").value == 0.0
    sol = solve(ir, follower_model="swap")
    assert sol.value == 1.0
    # the regret signature, by the reference: MW's average play is a CCE that is not a CE
    assert max(e for e, _ in mw_reg) < 0.12 and max(w for _, w in mw_reg) > 0.65
    assert max(w for _, w in swap_reg) < 0.25
    # and the certificates report the same numbers
    mw_cert = solve(ir, follower_model="mw").certificate
    assert mw_cert.average_regret == pytest.approx(max(e for e, _ in mw_reg), abs=1e-9)
    assert mw_cert.max_swap_regret == pytest.approx(max(w for _, w in mw_reg), abs=1e-9)
    assert sol.certificate.max_swap_regret == pytest.approx(max(w for _, w in swap_reg), abs=1e-9)


# -- the spec key and the options ---------------------------------------------------------------

def test_dynamics_model_key_defaults_and_positioned_did_you_mean():
    ir = mechdsl.compile(loads(INDIFFERENT))
    d = ir.model.dynamics
    assert (d.model, d.learning_rate, d.epsilon) == ("mw", 0.1, 0.1)
    text = INDIFFERENT + "dynamics {\n    model = qlearning\n    learning_rate = 0.5\n    epsilon = 0\n}\n"
    d = mechdsl.compile(loads(text)).model.dynamics
    assert (d.model, d.learning_rate, d.epsilon) == ("qlearning", 0.5, 0.0)
    # the spec's model is solve's default
    assert solve(mechdsl.compile(loads(INDIFFERENT + "dynamics { model = favourable }\n"))).value == 10.0
    with pytest.raises(MechError) as err:
        loads(INDIFFERENT + "dynamics {\n    model = swapp\n}\n")
    shown = err.value.render() if hasattr(err.value, "render") else str(err.value)
    assert ":11:13:" in shown and "did you mean 'swap'?" in shown
    with pytest.raises(MechError, match="epsilon must be in"):
        loads(INDIFFERENT + "dynamics { epsilon = 1.5 }\n")


def test_cli_follower_model_option_and_json():
    runner = CliRunner()
    maintain = str(PAPER / "maintain.mech")
    res = runner.invoke(main, ["solve", maintain, "--follower-model", "swpa"])
    assert res.exit_code == 2 and "swap" in res.output
    res = runner.invoke(main, ["solve", maintain, "--follower-model", "swap", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["follower_model"] == "swap" and out["value"] == 20
    assert out["certificate"]["notion"].startswith("Bayesian correlated equilibrium")
    res = runner.invoke(main, ["solve", str(PAPER / "maintain_mixed.mech"), "--follower-model", "pessimistic"])
    assert res.exit_code == 2 and "mixed commitments are solved exactly only" in res.output


# -- the pieces, against independent computations ------------------------------------------------

def test_stationary_distribution_matches_an_eigenvector():
    g = np.random.default_rng(0)
    for A in (1, 2, 3, 5):
        Q = g.random((4, A, A)) + 1e-3
        Q /= Q.sum(-1, keepdims=True)
        got = stationary(torch.tensor(Q)).numpy()
        for b in range(4):
            w, v = np.linalg.eig(Q[b].T)
            ref = np.real(v[:, np.argmin(abs(w - 1))])
            np.testing.assert_allclose(got[b], ref / ref.sum(), atol=1e-12)


# matching pennies between two followers; the leader's objective is filled in
PENNIES = """
agent p1 {{ action a in {{H, T}} }}
agent p2 {{ action b in {{H, T}} }}
leader {{ choose r in {{go}} }}
utility p1 = if a == b then 1 else 0
utility p2 = if a == b then 0 else 1
objective = {objective}
"""


def test_empirical_regrets_of_a_hand_made_average():
    """Matching pennies under MW from uniform: both players stay uniform forever (each
    one's payoffs against a uniform opponent are equal), so the time average is the
    uniform product, where no fixed action and no swap gains anything: both 0."""
    ir = mechdsl.compile(loads(PENNIES.format(objective="0")))
    tb = Tables(ir)
    from mechdsl.evaluate import Policy, evaluate

    pay = evaluate(tb, Policy(action=torch.zeros(1, ir.n_infosets, dtype=torch.long)))
    for model in ("mw", "swap", "qlearning"):
        ext, swp = empirical_regrets(tb, pay.U, MWConfig.from_ir(ir, model=model))
        assert float(ext.max()) < 1e-12 and float(swp.max()) < 1e-12


def test_no_pure_equilibrium_falls_back_and_says_so():
    """Matching pennies has no pure equilibrium: the followers play a least-regret profile
    (every profile has one player regretting 1 of its range 1), and the certificate says
    there is no pure BNE."""
    ir = mechdsl.compile(loads(PENNIES.format(objective="if a == b then 1 else 0")))
    sol = solve(ir, follower_model="pessimistic")
    assert sol.value is None and "no leader policy admits" in sol.note
    from mechdsl.certificate import certify
    from mechdsl.evaluate import Policy

    cert = certify(ir, Policy(action=torch.zeros(1, ir.n_infosets, dtype=torch.long)),
                   mw=MWConfig.from_ir(ir, model="favourable"))
    assert not cert.certified and cert.max_regret == pytest.approx(1.0)
    assert any("no pure Bayes-Nash equilibrium" in w for w in cert.warnings)
    assert cert.value == 1.0  # favourable among the least-regret profiles: (H, H) or (T, T)


# -- the POMDP and the env ----------------------------------------------------------------------

@pytest.mark.parametrize("model", ["swap", "qlearning", "favourable", "pessimistic"])
def test_env_and_batched_pomdp_agree_for_every_model(model):
    """Same map, same seed: the same steps, scores and rewards, model by model."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_env import play, random_map

    for name in ("allocation", "matrix_design"):
        ir = compile_path(PAPER / f"{name}.mech")
        cfg = MWConfig.from_ir(ir, model=model)
        cfg.rounds = 30  # equilibrium sub-episodes, few to keep the step-by-step env quick
        p = StackelbergPOMDP(ir, mw=cfg, reward_rounds=5)
        m = random_map(p, 3)
        st = p.run(m, torch.Generator().manual_seed(11))
        env = StackelbergEnv(ir, equilibrium=30, reward=5, leader_map=m, follower_model=model)
        rewards, steps = play(env, 11)
        assert steps == int(st.steps[0])
        scores = env._learner.scores(env.logw) if env._learner is not None else env.logw
        assert all(torch.allclose(a, b) for a, b in zip(scores, st.logw))
        assert abs(sum(rewards) - float(st.rewards[0].sum())) < 1e-9


def test_pomdp_exact_worth_follows_the_model():
    """The INDIFFERENT game's row R: favourable followers play X (leader 10), pessimistic
    ones Y (0); a Q-learning follower under pessimistic ties also reads the tie as Y."""
    ir = mechdsl.compile(loads(INDIFFERENT))
    got = {}
    for model in ("favourable", "pessimistic", "qlearning"):
        p = StackelbergPOMDP(ir, mw=MWConfig.from_ir(ir, model=model))
        row_r = p.make_map(torch.zeros(1, p.S, dtype=torch.long))
        got[model] = float(p.exact(row_r).value[0])
    assert got == {"favourable": 10.0, "pessimistic": 0.0, "qlearning": 0.0}


# -- training ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_qlearning_followers_reach_the_mw_optimum_on_allocation():
    """Allocation with 3 messages: the exact optimum is 1 under MW (and under Q-learning,
    test above); a seeded MAPPO run against Q-learning followers learns a policy worth 1
    within 1% of the objective's range [0, 1].  (About 12 s; bench/followers.py runs it
    with every model.)"""
    from mechdsl.config import config_for
    from mechdsl.train import train

    ir = compile_path(PAPER / "allocation.mech", messages=3)
    run = train(config_for(ir, {"seed": 0, "follower_model": "qlearning"}), ir).runs[0]
    assert run.value >= 1.0 - 0.01 and run.regret < 1e-6
