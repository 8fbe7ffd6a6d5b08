"""The paper's ablations as training settings: without the per-episode observation-action
map (`episode_map = false`), the basic POMDP (`response_prob = 0`), and the critic's
value loss in the curve and the summary.  Small, seeded episodes."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import mechdsl
from mechdsl.config import TrainConfig, config_for
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Policy
from mechdsl.fresh import run_fresh
from mechdsl.nets import Agent, Head
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.train import response_keep, train

ROOT = Path(__file__).resolve().parent.parent


def compile_spec(name: str, **sets) -> mechdsl.GameIR:
    return mechdsl.compile(mechdsl.load(str(ROOT / "specs" / "paper" / f"{name}.mech"),
                                        {k: str(v) for k, v in sets.items()}))


def setup(name: str, T: int, R: int, **sets):
    ir = compile_spec(name, **sets)
    mw = MWConfig.from_ir(ir)
    mw.rounds = T
    pomdp = StackelbergPOMDP(ir, mw=mw, reward_rounds=R)
    torch.manual_seed(0)
    F = pomdp.features.shape[1]
    agent = Agent(F, F + 2 + sum(t * a for t, a in zip(ir.type_counts, ir.action_counts)) + pomdp.T,
                  pomdp.K, pomdp.m, 16)
    return ir, pomdp, Head(pomdp), agent


def test_settings_parse_from_text_and_spec_values():
    cfg = TrainConfig().updated({"episode_map": "false", "response_prob": "0"})
    assert (cfg.episode_map, cfg.response_prob) == (False, 0.0)
    assert TrainConfig().updated({"episode_map": False}).episode_map is False  # a spec's `false`
    assert TrainConfig().episode_map is True and TrainConfig().response_prob == 1.0
    with pytest.raises(ValueError, match="true or false"):
        TrainConfig().updated({"episode_map": "maybe"})
    with pytest.raises(ValueError, match="between 0 and 1"):
        TrainConfig().updated({"response_prob": 1.5})
    assert "fix_episode_actions" in TrainConfig.help()["episode_map"]
    assert "basic POMDP" in TrainConfig.help()["response_prob"]


def test_without_the_map_a_decision_varies_within_an_episode():
    """Maintain has one information set.  With the map, an episode's every encounter of it
    is one decision with one action; without it, each of the T * 3 + R encounters is a
    decision drawn afresh, so a near-uniform actor plays several rows in one episode."""
    ir, pomdp, head, agent = setup("maintain", T=20, R=5)
    gen = torch.Generator().manual_seed(3)
    fe = run_fresh(pomdp, head, agent, 4, gen, mappo=True)
    assert fe.steps.tolist() == [20 * 3 + 5] * 4  # a step per rollout: every follower alternative, every reward
    assert len(fe.batch.s_idx) == 4 * 65
    for b in range(4):
        acts = fe.batch.action[fe.episode == b]
        assert len(set(acts.tolist())) > 1
    # with the map: one action per information set per episode
    st = pomdp.run(pomdp.uniform_map(4, gen), gen)
    assert st.encountered.sum(1).tolist() == [1, 1, 1, 1]
    assert st.steps.tolist() == [65] * 4


def test_without_the_map_returns_are_the_rewards_to_come():
    ir, pomdp, head, agent = setup("maintain", T=10, R=4)
    fe = run_fresh(pomdp, head, agent, 3, torch.Generator().manual_seed(1), mappo=False)
    for b in range(3):
        rows = fe.episode == b
        eq = fe.batch.returns[rows & (fe.phase == 0)]
        assert torch.allclose(eq, fe.rewards[b].mean().float().expand_as(eq))
        rew = fe.batch.returns[rows & (fe.phase == 1)]  # one decision per reward sub-episode, in order
        want = fe.rewards[b].flip(0).cumsum(0).flip(0) / 4
        assert torch.allclose(rew, want.float())
    assert fe.batch.central.shape[1] == pomdp.features.shape[1]  # PPO's critic: the observation only


def test_basic_pomdp_trains_on_reward_decisions_only_without_the_map():
    """Maintain, T = 10, R = 4: the Stackelberg POMDP's batch holds all 10 * 3 + 4 decisions
    of an episode, the basic POMDP's only the 4 of the reward sub-episodes."""
    ir, pomdp, head, agent = setup("maintain", T=10, R=4)
    full = run_fresh(pomdp, head, agent, 5, torch.Generator().manual_seed(2), mappo=True, response_prob=1.0)
    basic = run_fresh(pomdp, head, agent, 5, torch.Generator().manual_seed(2), mappo=True, response_prob=0.0)
    assert torch.bincount(full.episode, minlength=5).tolist() == [34] * 5
    assert torch.bincount(basic.episode, minlength=5).tolist() == [4] * 5
    assert bool((basic.phase == 1).all())
    assert basic.steps.tolist() == full.steps.tolist() == [34] * 5  # the environment is the same
    half = run_fresh(pomdp, head, agent, 5, torch.Generator().manual_seed(2), mappo=True, response_prob=0.5)
    assert 4 * 5 < len(half.episode) < 34 * 5


def test_basic_pomdp_with_the_map_drops_sets_met_only_while_equilibrating():
    """Allocation, every message mapped to item a: the follower is indifferent, so the
    reward phase sees one message while the equilibrium phase tries all three.  The
    basic POMDP keeps the one; the Stackelberg POMDP all three."""
    ir = compile_spec("allocation", messages=3)
    mw = MWConfig.from_ir(ir)
    mw.rounds = 30
    pomdp = StackelbergPOMDP(ir, mw=mw, reward_rounds=5)
    gen = torch.Generator().manual_seed(0)
    st = pomdp.run(Policy(action=torch.zeros(2, pomdp.S, dtype=torch.long)), gen)
    assert st.encountered.sum(1).tolist() == [3, 3]
    assert response_keep(pomdp, st, 1.0, gen) is None
    keep = response_keep(pomdp, st, 0.0, gen)
    assert (st.encountered & keep).sum(1).tolist() == [1, 1]


def test_training_runs_with_each_ablation_and_logs_the_value_loss():
    ir = compile_spec("maintain")
    for opts in ({"episode_map": False, "equilibrium": 10, "reward": 2}, {"response_prob": 0.0}, {"algo": "ppo"}):
        cfg = config_for(ir, {"steps": 3_000, "episodes": 8, "seed": 1, **opts})
        run = train(cfg, ir).runs[0]
        assert run.curve, opts
        losses = [row["value_loss"] for row in run.curve]
        assert all(math.isfinite(v) and v >= 0 for v in losses), opts
    # the curve of the map-less run counts its decisions: 10 * 3 + 2 per episode, 8 episodes
    cfg = config_for(ir, {"steps": 1, "episodes": 8, "seed": 1, "episode_map": False, "equilibrium": 10, "reward": 2})
    assert train(cfg, ir).runs[0].curve[0]["decisions"] == 8 * 32


def test_mixed_commitment_trains_without_the_map():
    ir = compile_spec("maintain_mixed")
    cfg = config_for(ir, {"steps": 2_000, "episodes": 4, "seed": 0, "episode_map": False, "equilibrium": 5, "reward": 2})
    run = train(cfg, ir).runs[0]
    assert 0.0 <= run.normalized <= 1.0 and run.curve


def test_summary_reports_the_value_loss_and_the_ablation(tmp_path):
    from click.testing import CliRunner

    from mechdsl.cli import main

    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(ROOT / "specs/paper/maintain.mech"), "--steps", "2000", "-o", str(out),
                                    "-O", "episodes=8", "-O", "response_prob=0", "--json"])
    assert res.exit_code == 0, res.output
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert isinstance(summary["per_seed"][0]["value_loss"], float)
    assert any("basic POMDP" in w for w in summary["warnings"])


def test_a_deterministic_actor_plays_the_same_game_with_or_without_the_map():
    """With all mass on row A, Maintain's follower learns column A either way, so every
    reward sub-episode pays 20 of 30 (normalized 2/3) and the final weights agree in
    which column leads."""
    ir, pomdp, head, agent = setup("maintain", T=30, R=6)
    with torch.no_grad():
        agent.actor[-1].bias[:3] = torch.tensor([50.0, -50.0, -50.0])
    fe = run_fresh(pomdp, head, agent, 3, torch.Generator().manual_seed(5), mappo=True)
    assert bool((fe.batch.action == 0).all())
    assert torch.allclose(fe.rewards, torch.full((3, 6), 2 / 3, dtype=fe.rewards.dtype))
    st = pomdp.run(Policy(action=torch.zeros(3, pomdp.S, dtype=torch.long)), torch.Generator().manual_seed(5))
    assert torch.allclose(st.rewards, fe.rewards)


@pytest.mark.parametrize("setting", [{"episode_map": "false"}, {"response_prob": "0"}])
def test_ablations_are_refused_in_sampled_mode(setting):
    """They run on the exact POMDP's payoff tensors, which sampled mode never builds."""
    from mechdsl.compiler.errors import MechUsageError

    ir = compile_spec("maintain")
    cfg = config_for(ir, {"mode": "sampled", "steps": "1000", **setting})
    with pytest.raises(MechUsageError, match="sampled mode"):
        train(cfg, ir)
