"""The batched Stackelberg POMDP (mechdsl.pomdp): its followers are exactly Algorithm 2
(`sampled_mw`), its step count is the paper's, its rewards are the normalized objective."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mechdsl
from mechdsl.dynamics import sampled_mw
from mechdsl.evaluate import Policy
from mechdsl.pomdp import DONE, StackelbergPOMDP

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "specs" / "paper"


def compile_spec(name: str, **sets) -> mechdsl.GameIR:
    return mechdsl.compile(mechdsl.load(str(PAPER / f"{name}.mech"), {k: str(v) for k, v in sets.items()}))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def alloc():
    return StackelbergPOMDP(compile_spec("allocation", messages=3))


@pytest.fixture(scope="module")
def spm():
    return StackelbergPOMDP(compile_spec("spm_messages", messages=2))


@pytest.mark.parametrize("name,sets", [("allocation", {"messages": 3}), ("spm_messages", {}), ("matrix_design", {})])
def test_followers_run_algorithm_2_draw_for_draw(name, sets):
    """The traced MW inside the POMDP is `dynamics.sampled_mw`, bit for bit."""
    p = StackelbergPOMDP(compile_spec(name, **sets))
    st = p.equilibrium(p.reset(p.uniform_map(32, gen(1))), gen(7))
    ref = sampled_mw(p.tb, st.payoffs.U, p.mw, gen(7))
    assert all(torch.equal(a, b) for a, b in zip(st.logw, ref))


def test_steps_are_the_papers_count(alloc):
    """One follower with 3 messages, one decision per rollout: T*3 + R steps."""
    st = alloc.run(alloc.uniform_map(8, gen(0)), gen(0))
    T, R = alloc.mw.rounds, alloc.R
    assert (st.steps == T * 3 + R).all()
    # matrix design: two followers with two actions each, T = 100, R = 10
    p = StackelbergPOMDP(compile_spec("matrix_design"))
    st = p.run(p.uniform_map(4, gen(0)), gen(0))
    assert (st.steps == 100 * (2 + 2) + 10).all()


def test_rewards_are_the_normalized_objective(alloc):
    """Messages mapped one-to-one onto items: the follower reveals its item, reward 1."""
    bijection = torch.tensor([[0, 1, 2], [2, 0, 1]])
    st = alloc.run(alloc.make_map(bijection), gen(3))
    assert st.phase.eq(DONE).all()
    assert torch.allclose(st.rewards, torch.ones_like(st.rewards))
    assert torch.allclose(alloc.exact(alloc.make_map(bijection)).value, torch.ones(2, dtype=torch.float64))
    # every message to the same item: reward 1 exactly when the type is that item
    same = torch.zeros(1, 3, dtype=torch.long)
    st = alloc.run(alloc.make_map(same), gen(3))
    assert set(st.rewards.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(alloc.exact(alloc.make_map(same)).value) - 1 / 3) < 1e-9


def test_encountered_information_sets(spm):
    """Only information sets that some rollout reached are decisions; roots always are."""
    st = spm.run(spm.uniform_map(64, gen(2)), gen(2))
    assert st.encountered[:, spm.tb.root].all()
    assert not st.encountered.all()  # second-round sets after a sale are never reached
    # a set is encountered only if it lies on some path of the evaluated mechanism
    on_path = torch.zeros_like(st.encountered)
    B = st.batch
    for b in range(B):
        ids = st.payoffs.path[b][st.payoffs.path[b] >= 0].unique()
        on_path[b, ids] = True
    assert (st.encountered <= on_path).all()


def test_stepping_after_the_end_changes_nothing(alloc):
    st = alloc.run(alloc.uniform_map(4, gen(0)), gen(0))
    g = gen(1)
    before = g.get_state()
    again = alloc.reward(alloc.equilibrium(st, g), g)
    assert again is st and torch.equal(g.get_state(), before)


def test_same_generator_same_episode(spm):
    m = spm.uniform_map(16, gen(5))
    a, b = spm.run(m, gen(9)), spm.run(m, gen(9))
    assert torch.equal(a.rewards, b.rewards) and torch.equal(a.steps, b.steps)


def test_centralized_state_is_separate_from_the_observation(spm):
    feats, legal = spm.observe()
    assert feats.shape[0] == spm.S and legal.shape == (spm.S, spm.K)
    st = spm.run(spm.uniform_map(4, gen(0)), gen(0))
    assert len(st.logw) == spm.n and st.eq_types.shape == (4, spm.T)
    assert torch.allclose(st.eq_types.sum(-1), torch.full((4,), float(spm.mw.rounds), dtype=st.eq_types.dtype))
    assert st.reward_types.shape == (4, spm.R)
    # the reward phase integrated out: between the worst and best sampled outcomes
    exp = spm.expected_reward(st)
    assert ((exp >= 0) & (exp <= 1)).all()


def test_mixed_map_is_a_distribution_over_legal_rows():
    p = StackelbergPOMDP(compile_spec("maintain_mixed"))
    w = torch.tensor([[[0.0, 1.0, -2.0]]])
    m = p.make_map(torch.zeros(1, 1, dtype=torch.long), weights=w)
    assert torch.allclose(m.probs.sum(-1), torch.ones(1, 1, dtype=torch.float64))
    assert int(m.action[0, 0]) == 1
    # playing A with probability 0.3 and B otherwise keeps the follower on A: 20*.3 + 30*.7
    probs = torch.tensor([[[0.3, 0.7, 0.0]]], dtype=torch.float64)
    v = p.exact(Policy(torch.zeros(1, 1, dtype=torch.long), probs=probs)).value
    assert abs(float(v) - 27.0) < 1e-9


def test_interval_prices_stay_in_the_interval():
    ir = compile_spec("spm_messages_interval")
    p = StackelbergPOMDP(ir)
    low, high = ir.interval
    x = torch.randn(5, p.S, p.m, generator=gen(0)) * 10
    m = p.make_map(p.uniform_map(5, gen(0)).action, price_logits=x)
    priced = p.priced.unsqueeze(0).expand_as(m.prices)
    assert ((m.prices[priced] >= low) & (m.prices[priced] <= high)).all()
    st = p.run(m, gen(1))
    assert ((st.rewards >= 0) & (st.rewards <= 1)).all()
