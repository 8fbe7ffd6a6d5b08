"""Greedy maps as saved policies: `policy_dict` and `policy_map` convert between a
one-row map and the saved dict; `greedy_policy` reads the greedy map of a saved agent
(for `mechdsl eval` and interrupted runs)."""
from __future__ import annotations

import torch

from mechdsl.compiler.ir import GameIR
from mechdsl.config import TrainConfig
from mechdsl.evaluate import Policy
from mechdsl.nets import Agent, Head
from mechdsl.pomdp import StackelbergPOMDP


def policy_dict(gmap: Policy) -> dict[str, torch.Tensor]:
    """A one-row greedy map as a saved policy (the inverse of `policy_map`): action [S],
    probs [S, K], prices [S, m], on the CPU."""
    policy = {"action": gmap.action[0].cpu()}
    if gmap.probs is not None:
        policy["probs"] = gmap.probs[0].cpu()
    if gmap.prices is not None:
        policy["prices"] = gmap.prices[0].cpu()
    return policy


def greedy_policy(ir: GameIR, config: TrainConfig, agent_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The greedy map of a saved agent (e.g. from an interrupted run's checkpoint)."""
    pomdp = StackelbergPOMDP(ir)
    F = pomdp.features.shape[1]
    n_c = agent_state["critic.0.weight"].shape[1]
    agent = Agent(F, n_c, pomdp.K, pomdp.m, config.hidden)
    agent.load_state_dict(agent_state)
    head = Head(pomdp)
    return policy_dict(head.to_map(head.greedy(agent)))


def policy_map(policy: dict[str, torch.Tensor], device: str = "cpu") -> Policy:
    """A saved greedy policy back into a one-row map."""
    get = lambda k: None if k not in policy else policy[k].unsqueeze(0).to(device)  # noqa: E731
    return Policy(get("action"), get("probs"), get("prices"))
