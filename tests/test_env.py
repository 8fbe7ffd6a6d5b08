"""The step-by-step Gymnasium env (mechdsl.env): it passes Gymnasium's checker, steps
the paper's POMDP, and agrees with the batched POMDP on the same map and generator."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import mechdsl
from mechdsl.env import StackelbergEnv, make_env
from mechdsl.pomdp import StackelbergPOMDP

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "specs" / "paper"


def spec(name: str) -> str:
    return str(PAPER / f"{name}.mech")


def random_map(p: StackelbergPOMDP, seed: int):
    g = torch.Generator().manual_seed(seed)
    action = torch.multinomial(p.legal.float(), 1, generator=g).T
    w = torch.randn(1, p.S, p.K, generator=g) if p.ir.mixed else None
    x = torch.randn(1, p.S, p.m, generator=g) if p.ir.interval is not None else None
    return p.make_map(action, w, x)


def play(env: StackelbergEnv, seed: int) -> tuple[list[float], int]:
    env.reset(seed=seed)
    rewards, steps = [], 0
    while True:
        _, r, term, trunc, info = env.step(env.action_space.sample())
        steps += 1
        rewards.append(r)
        if term or trunc:
            return rewards, steps


@pytest.mark.parametrize("name", ["allocation", "maintain_mixed", "spm_messages_interval"])
def test_env_checker(name):
    env = gym.make("mechdsl/Stackelberg-v0", spec_path=spec(name), equilibrium=5, reward=3)
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("name", ["allocation", "spm_messages", "maintain_mixed", "spm_messages_interval"])
def test_env_and_batched_pomdp_agree_exactly(name):
    """Same map, same seed: the same steps, the same followers' weights, the same rewards."""
    ir = mechdsl.compile(mechdsl.load(spec(name)))
    p = StackelbergPOMDP(ir)
    m = random_map(p, 3)
    st = p.run(m, torch.Generator().manual_seed(11))
    env = StackelbergEnv(ir, leader_map=m)
    rewards, steps = play(env, 11)
    assert steps == int(st.steps[0])
    assert all(torch.equal(a, b) for a, b in zip(env.logw, st.logw))
    assert abs(sum(rewards) - float(st.rewards[0].sum())) < 1e-9
    assert abs(env.episode_reward - float(st.rewards[0].sum())) < 1e-9


def test_map_is_fixed_within_an_episode():
    """The first action at an information set is stored; later ones are ignored."""
    env = make_env(spec("allocation"), messages=3, equilibrium=3, reward=2)
    obs, info = env.reset(seed=0)
    seen = {}
    while True:
        s = int(np.flatnonzero(obs["obs"][:3])[0])  # the observed message: the information set
        a = int(env.np_random.integers(3))
        obs, r, term, trunc, info = env.step(a)
        if info["from_map"]:
            assert s in seen
        else:
            seen[s] = a
        if term:
            break
    assert env.action.tolist() == [seen.get(s, env.action[s]) for s in range(3)]
    # stepping after the end changes nothing
    obs2, r2, term2, _, _ = env.step(0)
    assert term2 and r2 == 0.0 and not obs2["action_mask"].any()


def test_reward_only_at_the_end_of_reward_sub_episodes():
    env = make_env(spec("spm_messages"), equilibrium=4, reward=5)
    env.reset(seed=1)
    paid_at = []
    while True:
        _, r, term, _, info = env.step(env.action_space.sample())
        if info["phase"] == "equilibrium":
            assert r == 0.0
        if r:
            paid_at.append(info["sub_episode"])
        if term:
            break
    assert all(4 < s <= 9 for s in paid_at)


def test_sb3_example_says_what_is_missing():
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        res = subprocess.run([sys.executable, str(ROOT / "examples" / "sb3_train.py"), spec("escape")],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert res.returncode == 2
        assert "pip install .[sb3]" in res.stderr
    else:
        pytest.skip("stable-baselines3 is installed")
