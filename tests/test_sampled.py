"""Sampled mode (mechdsl.cells, mechdsl.sampled, mechdsl.estimate) agrees with exact mode.

Bit for bit where the computation is the same: a cell's payoff equals the grid's, and the
sampled POMDP with exact mode's draws gives exact mode's weights, rewards and steps.
Statistically where only the draws differ, at a stated tolerance: two means of rewards
in [0, 1] agree within 4 standard errors of their difference (a false alarm about 1 in
15,000 runs; the seeds are fixed, so each test is deterministic), and an estimate lies
within its own Hoeffding bound of the exact value."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import mechdsl
from mechdsl.cells import Cells, evaluate_cells, observation_class, unravel
from mechdsl.compiler import loads
from mechdsl.compiler.errors import MechSizeError
from mechdsl.dynamics import MWConfig, pure, regret
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.memory import choose_mode
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.sampled import SampledPOMDP
from mechdsl.ties import profile_values

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")

SPM_N = """param n = 4
items left, right
agents bidder[n] {
    type value[item] ~ uniform [0, 0.5, 1]
    action message in range(2)
}
leader {
    observe message
    rounds {
        visit remaining agent
        price each item in [0, 0.75]
        observe remaining
    }
}
valuation unit-demand of value
objective welfare
"""


def compile_spec(path: str, **sets) -> mechdsl.GameIR:
    return mechdsl.compile(mechdsl.load(str(ROOT / "specs" / path), {k: str(v) for k, v in sets.items()}))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_policy(ir, tb: Tables, B: int, g: torch.Generator) -> Policy:
    act = torch.multinomial(tb.legal.float(), B, replacement=True, generator=g).T.contiguous()
    probs = prices = None
    if ir.mixed:
        probs = torch.softmax(torch.randn(B, tb.S, tb.K, generator=g).double().masked_fill(~tb.legal, -1e9), -1)
    if ir.interval:
        prices = torch.rand(B, tb.S, tb.m, generator=g, dtype=torch.float64) * 2
    return Policy(act, probs, prices)


@pytest.mark.parametrize("path", ["paper/spm_messages.mech", "paper/maintain_mixed.mech",
                                  "paper/spm_messages_interval.mech", "paper/matrix_design.mech",
                                  "examples/bundling.mech", "examples/contract.mech", "examples/correlated.mech"])
def test_cells_equal_the_grid_bit_for_bit(path):
    ir = compile_spec(path)
    tb, g = Tables(ir), gen(0)
    pol = random_policy(ir, tb, 3, g)
    pay = evaluate(tb, pol)
    N = 300
    row, t, a = (torch.randint(hi, (N,), generator=g) for hi in (3, tb.T, tb.A))
    who = torch.randint(tb.n, (N,), generator=g)
    cells = Cells(row, unravel(t, ir.type_counts), unravel(a, ir.action_counts))
    out = evaluate_cells(Tables(ir, profiles=False), pol, cells, who=who)
    U, V = pay.U[row, :, t, a], pay.V[row, t, a]
    assert torch.equal(out.U, U) and torch.equal(out.V, V)
    assert torch.equal(out.own, U.gather(1, who.view(-1, 1)).squeeze(1))


def test_observation_class_from_indices_is_the_irs():
    ir = compile_spec("examples/spm_three_agents.mech")
    for ir in (ir, compile_spec("paper/spm_messages.mech", messages=3), compile_spec("paper/matrix_design.mech")):
        tb = Tables(ir, profiles=False)
        got = observation_class(tb, unravel(torch.arange(ir.n_action_profiles), ir.action_counts))
        assert got.tolist() == ir.obs_class
        assert tb.tidx is None and tb.prior is None  # nothing indexed by profile in sampled mode


@pytest.mark.parametrize("path,sets", [("paper/allocation.mech", {"messages": 3}), ("paper/spm_messages.mech", {}),
                                       ("paper/maintain_mixed.mech", {}), ("paper/spm_messages_interval.mech", {})])
def test_sampled_pomdp_is_exact_pomdp_draw_for_draw(path, sets):
    """Same generator calls (draws='exact'), same cells: the same episode, bit for bit."""
    ir = compile_spec(path, **sets)
    mw = MWConfig.from_ir(ir, "first")
    mw.rounds = 40
    e, s = StackelbergPOMDP(ir, mw=mw), SampledPOMDP(ir, mw=mw, draws="exact")
    leader_map = e.uniform_map(8, gen(1))
    a, b = e.run(leader_map, gen(5)), s.run(leader_map, gen(5))
    assert all(torch.equal(x, y) for x, y in zip(a.logw, b.logw))
    assert torch.equal(a.rewards, b.rewards) and torch.equal(a.steps, b.steps)
    assert torch.equal(a.encountered, b.encountered)


def test_sampled_mean_reward_agrees_with_exact_statistically():
    """Independent draws (each agent's type from its marginal): mean rewards of a fixed
    map over 256 episodes x R agree within 4 standard errors of the difference."""
    ir = compile_spec("paper/spm_messages.mech")
    mw = MWConfig.from_ir(ir, "first")
    mw.rounds = 60
    e, s = StackelbergPOMDP(ir, mw=mw), SampledPOMDP(ir, mw=mw, draws="marginal")
    one = e.uniform_map(1, gen(3))
    leader_map = Policy(one.action.expand(256, -1).contiguous())
    ra, rb = e.run(leader_map, gen(11)).returns, s.run(leader_map, gen(12)).returns
    se = math.sqrt(float(ra.var()) / ra.numel() + float(rb.var()) / rb.numel())
    assert abs(float(ra.mean()) - float(rb.mean())) <= 4 * se + 1e-12
    assert float(ra.var()) > 0  # the test can fail: the returns vary


def test_estimate_is_within_its_bounds_of_the_exact_value():
    """The estimate's followers' play, valued exactly: value within the Hoeffding half-width,
    exact regret at most the regret bound."""
    ir = compile_spec("paper/spm_messages.mech", messages=3)
    mw = MWConfig.from_ir(ir, "first")
    mw.rounds = 150
    s = SampledPOMDP(ir, mw=mw, seed=4)
    tb = Tables(ir)
    for k in range(2):
        leader_map = s.uniform_map(1, gen(20 + k))
        est = s.exact(leader_map, samples=2000)
        V = evaluate(tb, leader_map)
        exact_value = float(profile_values(tb, V.V, est.strategies)[0])
        assert abs(float(est.value[0]) - exact_value) <= float(est.value_bound[0])
        exact_regret = float(regret(tb, V.U, pure(est.strategies, tb)).max())
        assert exact_regret <= float(est.regret_bound[0]) + 1e-12
        assert 0 <= float(est.regret[0]) <= float(est.regret_bound[0])


def test_auto_mode_picks_exact_when_it_fits_and_sampled_when_not():
    from mechdsl.memory import exact_training_bytes, sampled_training_bytes

    assert choose_mode(compile_spec("paper/spm_messages.mech"), "auto", 256, 16, 1, 100) == "exact"
    ir = mechdsl.compile(loads(SPM_N, "spm4.mech"))  # 4 agents: 6561 x 16 profiles
    exact, sampled = exact_training_bytes(ir, 272), sampled_training_bytes(ir, 272, 100)
    assert sampled * 20 < exact  # 2.3e10 bytes against about 4e7
    assert choose_mode(ir, "auto", 256, 16, 1, 100, budget=exact) == "exact"
    assert choose_mode(ir, "auto", 256, 16, 1, 100, budget=exact - 1) == "sampled"
    assert choose_mode(ir, "sampled", 256, 16, 1, 100, budget=exact) == "sampled"
    with pytest.raises(MechSizeError) as err:  # exact asked for, too large: says what to change
        choose_mode(ir, "exact", 256, 16, 1, 100, budget=exact - 1)
    assert "--mode sampled" in err.value.hint
    with pytest.raises(MechSizeError) as err:  # too large even for sampled mode: a size error, never an OOM
        choose_mode(ir, "auto", 256, 16, 1, 100, budget=sampled - 1)
    assert "of memory" in err.value.message and "episodes" in err.value.hint


def test_short_sampled_training_reaches_the_exact_optimum():
    """allocation (3 messages): sampled mode trains to the solver's exact optimum (1 seed,
    its greedy map valued exactly, within the default tolerance of 1% of the range)."""
    from mechdsl.config import TrainConfig
    from mechdsl.solve import solve
    from mechdsl.train import train

    ir = compile_spec("paper/allocation.mech", messages=3)
    optimum = solve(ir).value
    cfg = TrainConfig(mode="sampled", steps=int(2e6), episodes=32, eval_episodes=4, equilibrium=100, reward=20,
                      target=optimum, check_samples=500, seed=0)
    run = train(cfg, ir).runs[0]
    assert run.mode == "sampled" and run.stopped == "target"
    exact = StackelbergPOMDP(ir, mw=MWConfig.from_ir(ir)).exact(Policy(run.policy["action"].unsqueeze(0)))
    lo, hi = ir.objective_bounds
    assert float(exact.value[0]) >= optimum - 0.01 * (hi - lo)


def test_sampled_answer_is_judged_exactly_only_where_one_map_is_cheap():
    """A sampled-mode seed ranks and polishes its answer on the exact POMDP when one map's
    exact worth is cheap (an estimate's noise can rank a worse map first), and keeps the
    estimates when it is not (5 agents: 6 payoffs x 59,049 type profiles x 32 action
    profiles x 1000 rounds is over the 1e9 cap; 4 agents, 5.2e8, is not)."""
    from mechdsl.config import TrainConfig
    from mechdsl.train import final_judge

    cfg = TrainConfig(mode="sampled")
    small = compile_spec("paper/spm_messages.mech")
    mw = MWConfig.from_ir(small)
    judge = final_judge(SampledPOMDP(small, mw=mw), cfg, mw)
    assert type(judge) is StackelbergPOMDP and judge.mw is mw
    exact = StackelbergPOMDP(small, mw=mw)
    assert final_judge(exact, cfg, mw) is exact
    four = mechdsl.compile(loads(SPM_N, "spm4.mech"))
    assert type(final_judge(SampledPOMDP(four, mw=MWConfig.from_ir(four)), cfg, MWConfig.from_ir(four))) is StackelbergPOMDP
    big = mechdsl.compile(loads(SPM_N.replace("param n = 4", "param n = 5"), "spm5.mech"))
    sampled = SampledPOMDP(big, mw=MWConfig.from_ir(big))
    assert final_judge(sampled, cfg, sampled.mw) is sampled


def test_cli_mode_and_memory_budget(tmp_path):
    from click.testing import CliRunner

    from mechdsl.cli import main

    spec = str(ROOT / "specs" / "paper" / "escape.mech")
    res = CliRunner().invoke(main, ["train", spec, "--mode", "sampled", "--steps", "2000", "--out",
                                    str(tmp_path / "r"), "-O", "equilibrium=20", "-O", "episodes=8",
                                    "-O", "check_samples=200", "--json"])
    assert res.exit_code == 0, res.output
    assert '"per_seed"' in res.output
    res = CliRunner().invoke(main, ["eval", str(tmp_path / "r"), "--memory-budget", "1B"])
    assert res.exit_code == 0 and "estimated on samples" in res.output and "Hoeffding" in res.output
    res = CliRunner().invoke(main, ["train", spec, "--memory-budget", "lots", "--out", str(tmp_path / "q")])
    assert res.exit_code == 2 and "--memory-budget" in res.output


def test_mode_and_budget_settings_are_checked():
    from mechdsl.config import TrainConfig
    from mechdsl.memory import parse_bytes

    assert parse_bytes("4GB") == 4 << 30 and parse_bytes("512 mb") == 512 << 20 and parse_bytes("2e9") == 2e9
    cfg = TrainConfig().updated({"mode": "sampled", "memory_budget": "2GB"})
    assert cfg.mode == "sampled" and cfg.memory_budget == 2 << 30
    with pytest.raises(ValueError, match="mode must be one of"):
        TrainConfig().updated({"mode": "fast"})
    with pytest.raises(ValueError, match="memory_budget"):
        TrainConfig().updated({"memory_budget": "lots"})
