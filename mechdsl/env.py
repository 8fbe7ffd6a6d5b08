"""The Stackelberg POMDP as a Gymnasium environment, one leader decision per step.

This is the paper's environment, stepped exactly as Section 6 and Appendix C describe:

* an episode holds an *observation-action map*: the first time an information set is
  met, the agent's action there is stored and from then on reused (the agent's later
  actions at that set are ignored -- ``info["from_map"]`` says when);
* T *equilibrium sub-episodes*: a type profile and the followers' actions are drawn
  from their multiplicative weights, then the mechanism is rolled out for every
  follower i and every alternative action k of i on (k, a_-i) -- every leader decision
  in every rollout is a step -- and the weights are updated (Algorithm 2);
* R *reward sub-episodes*: types are drawn, the followers play the argmax of their
  weights, and the last decision of each sub-episode is paid the objective,
  normalized to [0, 1] by the spec's objective bounds.  Every other step pays 0.

Observation: ``{"obs": the information set's features, "action_mask": legal actions}``
(what `mechdsl.pomdp.StackelbergPOMDP.observe` gives the batched actor).  Action:
``Discrete(K)`` (an illegal action is replaced by the first legal one), or, when the
spec has mixed choices or interval prices, ``Box([-1, 1], K + m)``: at a mixed choose
set the first K entries, mapped to [0, 1], are row weights normalized into a
distribution; elsewhere the legal entry with the largest value is the action; the last
m entries, mapped to [low, high], are the posted prices.

The centralized state a MAPPO critic may read is `StackelbergEnv.state()`.

``reset(seed=s)`` seeds the torch generator that draws types and follower actions, in
the same order as the batched POMDP: for a fixed map, this env and
``StackelbergPOMDP.run(map, torch.Generator().manual_seed(s))`` give the same rewards.

>>> env = make_env("specs/paper/allocation.mech", messages=3)     # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                                   # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any, Optional

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.dynamics import MWConfig, normalized
from mechdsl.evaluate import Policy, evaluate
from mechdsl.followers import EQUILIBRIUM as BNE_MODELS
from mechdsl.followers import learner, mixed_of, respond
from mechdsl.followers import check as check_model
from mechdsl.pomdp import DONE, EQUILIBRIUM, PHASES, REWARD, StackelbergPOMDP
from mechdsl.ties import play

ENV_OPTIONS = ("equilibrium", "reward", "render_mode", "leader_map", "follower_model")


class StackelbergEnv(gym.Env):
    """One spec's Stackelberg POMDP.  ``leader_map`` (a one-row `Policy`) fixes the whole
    map up front: the agent's actions are then ignored (for tests and baselines).
    ``follower_model`` (default: the spec's `dynamics { model = ... }`) is how the
    followers respond (`mechdsl.followers`): `swap` rolls out every alternative like
    MW, `qlearning` only the profile played (bandit feedback); under `favourable` and
    `pessimistic` the equilibrium phase is one sub-episode per type profile the prior
    allows, rolling out every action profile, after which the followers play the pure
    BNE of the induced game."""

    metadata = {"render_modes": ["ansi"], "render_fps": 30}

    def __init__(
        self,
        ir: GameIR,
        equilibrium: Optional[int] = None,
        reward: Optional[int] = None,
        render_mode: Optional[str] = None,
        leader_map: Optional[Policy] = None,
        follower_model: Optional[str] = None,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise MechUsageError(f"render_mode {render_mode!r} is not supported", hint="use None or 'ansi'")
        if leader_map is not None and not isinstance(leader_map, Policy):
            raise MechUsageError("leader_map must be a mechdsl.evaluate.Policy (one row)")
        mw = MWConfig.from_ir(ir, model=check_model(follower_model) if follower_model is not None else None)
        if equilibrium is not None:
            mw.rounds = _whole(equilibrium, 1_000_001, "equilibrium")
        if reward is not None:
            reward = _whole(reward, 1_000_001, "reward")
            if reward < 1:
                raise MechUsageError("reward must be at least 1 (reward sub-episodes)")
        self.pomdp = p = StackelbergPOMDP(ir, "cpu", torch.float64, mw=mw, reward_rounds=reward)
        self.ir, self.tb = ir, p.tb
        self.render_mode = render_mode
        self.fixed_map = leader_map
        feats = np.asarray(ir.obs_features, dtype=np.float32)
        lo, hi = min(0.0, float(feats.min())), max(1.0, float(feats.max()))
        self.observation_space = spaces.Dict({
            "obs": spaces.Box(lo, hi, shape=(feats.shape[1],), dtype=np.float32),
            "action_mask": spaces.MultiBinary(p.K),
        })
        self.continuous = bool(ir.mixed) or p.has_prices
        self.n_prices = p.m if p.has_prices else 0
        if self.continuous:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(p.K + self.n_prices,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(p.K)
        self._feats = feats
        self._legal = np.asarray(ir.legal, dtype=bool)
        self._first_legal = self._legal.argmax(1)
        self._mixed = p.mixed_sets.cpu().numpy()
        self._priced = p.priced.cpu().numpy()
        self._strides = p.strides
        self._rate = math.log1p(mw.step)
        self._learner = learner(mw) if mw.model in ("swap", "qlearning") else None
        self._bne = mw.model in BNE_MODELS
        # the equilibrium sub-episodes: T rounds of dynamics, or one per possible type profile
        self._eq_types = [t for t in range(self.tb.T) if float(self.tb.prior[t]) > 0]
        self.eq_rounds = len(self._eq_types) if self._bne else mw.rounds
        self._cls = np.asarray(ir.obs_class)
        self._tidx = self.tb.tidx.cpu().numpy()
        self.generator = torch.Generator()
        self._seeded = False

    # -- Gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        if seed is not None:
            self.generator.manual_seed(int(seed))
        elif not self._seeded:
            self.generator.manual_seed(int(self.np_random.integers(2**62)))
        self._seeded = True
        p = self.pomdp
        self.known = np.zeros(p.S, dtype=bool)  # the observation-action map's domain
        self.action = np.asarray(self._first_legal, dtype=np.int64).copy()
        self.probs = np.zeros((p.S, p.K)) if self.ir.mixed else None
        self.prices = np.zeros((p.S, p.m)) if p.has_prices else None
        if self.fixed_map is not None:
            self.known[:] = True
            self.action = self.fixed_map.action[0].cpu().numpy().astype(np.int64).copy()
            if self.probs is not None:
                self.probs = self.fixed_map.probs[0].cpu().numpy().copy()
            if self.prices is not None:
                self.prices = self.fixed_map.prices[0].cpu().numpy().copy()
        self._dirty = True
        self._paths: dict[Optional[int], np.ndarray] = {}
        if self._learner is not None:
            self.logw = self._learner.start(self.tb, 1, torch.float64, torch.device("cpu"))
        else:  # MW's log-weights (under favourable / pessimistic: the equilibrium, one-hot, once known)
            self.logw = [torch.zeros(1, c, a, dtype=torch.float64) for c, a in zip(self.ir.type_counts, self.ir.action_counts)]
        self.phase, self.sub_episode, self.steps = EQUILIBRIUM, 0, 0
        self.reward_types: Optional[np.ndarray] = None
        self.episode_reward = 0.0
        self._start_equilibrium_sub_episode()
        return self._observe(), self._info(False)

    def step(self, action):
        if not hasattr(self, "phase"):
            raise MechUsageError("step() before reset()", hint="call env.reset() first (Gymnasium API)")
        if self.phase == DONE:  # stepping after the end changes nothing
            return self._observe(), 0.0, True, False, self._info(False)
        s = self._current()
        from_map = bool(self.known[s])
        if not from_map:
            self._store(s, action)
        self.steps += 1
        self.depth += 1
        if self.branches is None:  # a mixed choose set was just decided: walk each row it plays
            row = self.probs[s]
            self.branches = [k for k in range(self.pomdp.n_choose) if row[k] > 0] or [int(self.action[s])]
        reward, terminated = 0.0, False
        if self._current() < 0:  # this branch of the rollout is over
            self.branch_i += 1
            self.depth = 1 if self.branches[0] is not None else 0  # mixed: the choose set is shared
            if self.branch_i >= len(self.branches):
                reward, terminated = self._finish_rollout()
        return self._observe(), reward, terminated, False, self._info(from_map)

    def render(self):
        if self.render_mode != "ansi":
            return None
        s = self._current()
        where = self.ir.infosets[s].label if s >= 0 else "(episode over)"
        return f"{PHASES[self.phase]} sub-episode {self.sub_episode}, step {self.steps}: {where}"

    # -- the centralized state (for a MAPPO critic) --------------------------------------
    def state(self) -> dict[str, Any]:
        """What the leader does not see: the phase, the followers' weights (as
        strategies), the current type and action profile, the map built so far."""
        return {
            "phase": self.phase,
            "sub_episode": self.sub_episode,
            "strategies": [m[0].numpy() for m in mixed_of(self.logw, self.pomdp.mw)] if not self._bne else
                          [(w[0] == w[0].max(-1, keepdim=True).values).double().numpy() for w in self.logw],
            "type_profile": self.t,
            "action_profile": self.a_cur,
            "map_known": self.known.copy(),
            "map_action": self.action.copy(),
        }

    # -- internals --------------------------------------------------------------------------
    def _store(self, s: int, action) -> None:
        """Decode the agent's action at a new information set into the map."""
        p = self.pomdp
        legal = self._legal[s]
        if self.continuous:
            v = np.clip(_vector(action, p.K + self.n_prices), -1.0, 1.0)
            head = np.where(legal, v[: p.K], -np.inf)
            if self._mixed[s]:
                w = np.where(legal, (v[: p.K] + 1.0) / 2.0, 0.0)
                row = w / w.sum() if w.sum() > 0 else legal / legal.sum()
                self.probs[s] = row
                self.action[s] = int(np.argmax(np.where(legal, row, -1.0)))
            else:
                self.action[s] = int(np.argmax(head))
                if self.probs is not None:
                    self.probs[s] = np.eye(p.K)[self.action[s]]
            if self.n_prices:
                low, high = (x.cpu().numpy() if hasattr(x, "cpu") else x for x in (p.low, p.high))
                price = low + (high - low) * (v[p.K :] + 1.0) / 2.0
                self.prices[s] = np.where(self._priced[s], price, 0.0)
        else:
            k = _whole(action, p.K)
            self.action[s] = k if 0 <= k < p.K and legal[k] else int(self._first_legal[s])
        self.known[s] = True
        self._dirty = True

    def _map(self) -> Policy:
        t = lambda x, dt: None if x is None else torch.as_tensor(x, dtype=dt).unsqueeze(0)  # noqa: E731
        return Policy(t(self.action, torch.long), t(self.probs, torch.float64), t(self.prices, torch.float64))

    def _refresh(self) -> None:
        """Re-evaluate the mechanism under the map built so far.  A rollout only ever
        reads cells whose path lies inside the map, so these are final."""
        if not self._dirty:
            return
        pol = self._map()
        pay = evaluate(self.tb, pol)
        self._U = normalized(self.tb, pay.U, self.pomdp.mw.normalize)[0]  # [n, T, A]
        self._V = pay.V[0]
        self._paths = {None: pay.path[0].numpy()}
        if self.ir.mixed and self.tb.has_rounds:
            for k in range(self.pomdp.n_choose):
                act = pol.action.clone()
                act[:, self.tb.root] = k
                self._paths[k] = evaluate(self.tb, Policy(act, prices=pol.prices)).path[0].numpy()
        self._dirty = False

    def _current(self) -> int:
        """The information set the leader is at (-1: the current branch is over)."""
        if self.phase == DONE:
            return -1
        self._refresh()
        path = self._paths[0 if self.branches is None else self.branches[self.branch_i]]
        c = self._cls[self.rollout_a]
        if self.depth >= path.shape[-1]:
            return -1
        return int(path[c, self.rollout_t, self.depth])

    def _begin_rollout(self, t: int, a: int) -> None:
        self.rollout_t, self.rollout_a = t, a
        self.depth, self.branch_i = 0, 0
        # mixed choose set followed by rounds: the rows it plays are known once it is decided
        self.branches: Optional[list[Optional[int]]] = None if (self.ir.mixed and self.tb.has_rounds) else [None]

    def _start_equilibrium_sub_episode(self) -> None:
        tb, gen = self.tb, self.generator
        if self._bne:  # read the whole induced game: every action profile at the next type profile
            self.t, self.a_cur, self.acts = self._eq_types[self.sub_episode], 0, [0] * tb.n
            self.queue, self.q_pos = list(range(tb.A)), 0
            self._begin_rollout(self.t, self.queue[0])
            return
        t = int(torch.multinomial(tb.prior.expand(1, -1).float(), 1, generator=gen).squeeze(1)[0])
        ti = self._tidx[t]
        acts = []
        for i in range(tb.n):
            if self._learner is not None:
                p = self._learner.policy(self.logw, i, torch.as_tensor([ti[i]]))
            else:
                p = torch.softmax(self.logw[i][torch.arange(1), torch.as_tensor([ti[i]])], -1)
            acts.append(int(torch.multinomial(p.float(), 1, generator=gen).squeeze(1)[0]))
        a = sum(acts[i] * self._strides[i] for i in range(tb.n))
        self.t, self.a_cur = t, a
        self.acts = acts
        full = self._learner is None or self._learner.full_information
        self.queue = [p for i in range(tb.n) for p in self._alternatives(i)] if full else [a]
        self.q_pos = 0
        self._begin_rollout(t, self.queue[0])

    def _alternatives(self, i: int) -> list[int]:
        """The action profiles with follower i's action replaced by each of its actions."""
        return [self.a_cur + (k - self.acts[i]) * self._strides[i] for k in range(self.ir.action_counts[i])]

    def _finish_rollout(self) -> tuple[float, bool]:
        """A rollout ended: move to the next rollout / sub-episode / phase."""
        if self.phase == EQUILIBRIUM:
            self.q_pos += 1
            if self.q_pos < len(self.queue):
                self._begin_rollout(self.t, self.queue[self.q_pos])
                return 0.0, False
            self._refresh()
            ti = self._tidx[self.t]
            for i in range(self.tb.n if not self._bne else 0):
                alt = self._alternatives(i)
                if self._learner is not None:
                    pay = self._U[i, self.t, alt if self._learner.full_information else [self.a_cur]].unsqueeze(0)
                    self._learner.update(self.logw, i, torch.as_tensor([ti[i]]), torch.as_tensor([self.acts[i]]), pay)
                    continue
                pay = self._U[i, self.t, alt].unsqueeze(0)  # [1, A_i]
                self.logw[i][torch.arange(1), torch.as_tensor([ti[i]])] += self._rate * pay
            self.sub_episode += 1
            if self.sub_episode < self.eq_rounds:
                self._start_equilibrium_sub_episode()
                return 0.0, False
            self._start_reward_phase()
            return 0.0, False
        # a reward sub-episode ended: pay the objective of its outcome
        self._refresh()
        r = (float(self._V[self.t, self.a_cur]) - self.pomdp.lo) / self.pomdp.span
        self.episode_reward += r
        self.sub_episode += 1
        if self.sub_episode < self.eq_rounds + self.pomdp.R:
            self._start_reward_sub_episode()
            return r, False
        self.phase = DONE
        return r, True

    def _start_reward_phase(self) -> None:
        self.phase = REWARD
        R = self.pomdp.R
        self.reward_types = torch.multinomial(self.tb.prior.expand(1, -1).float(), R, replacement=True,
                                              generator=self.generator)[0].numpy()
        if self._bne:  # the followers' pure BNE of the induced game under the map
            pay = evaluate(self.tb, self._map())
            self.logw = respond(self.tb, pay.U, pay.V, self.pomdp.mw).scores
        scores = self._learner.scores(self.logw) if self._learner is not None else self.logw
        self.strategies = [s[0].numpy() for s in play(self.tb, scores, self._V.unsqueeze(0), self.pomdp.mw.ties)[0]]
        if R == 0:
            self.phase = DONE
            return
        self._start_reward_sub_episode()

    def _start_reward_sub_episode(self) -> None:
        r = self.sub_episode - self.eq_rounds
        t = int(self.reward_types[r])
        ti = self._tidx[t]
        a = sum(int(self.strategies[i][ti[i]]) * self._strides[i] for i in range(self.tb.n))
        self.t, self.a_cur = t, a
        self._begin_rollout(t, a)

    def _observe(self) -> dict[str, np.ndarray]:
        s = self._current() if self.phase != DONE else -1
        if s < 0:
            return {"obs": np.zeros(self._feats.shape[1], dtype=np.float32),
                    "action_mask": np.zeros(self.pomdp.K, dtype=np.int8)}
        return {"obs": self._feats[s].copy(), "action_mask": self._legal[s].astype(np.int8)}

    def _info(self, from_map: bool) -> dict[str, Any]:
        return {"phase": PHASES[self.phase], "sub_episode": self.sub_episode, "from_map": from_map,
                "steps": self.steps}


def _whole(x, bound: int, what: str = "action") -> int:
    """An integer in [0, bound) from an int, a whole float or a 0-d/1-element array."""
    try:
        arr = np.asarray(x)
        if arr.size != 1 or arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise ValueError
        value = arr.reshape(()).item()
        if value != int(value):
            raise ValueError
    except (TypeError, ValueError):
        raise MechUsageError(f"{what} must be a whole number, got {x!r}") from None
    if not 0 <= int(value) < bound:
        raise MechUsageError(f"{what} must be in [0, {bound - 1}], got {int(value)}")
    return int(value)


def _vector(x, size: int) -> np.ndarray:
    """A finite float vector of `size` entries (the Box action)."""
    try:
        v = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MechUsageError(f"the action must be {size} numbers, got {x!r}") from None
    if v.shape != (size,) or not np.isfinite(v).all():
        raise MechUsageError(f"the action must be {size} finite numbers, got shape {v.shape}",
                             hint="see env.action_space")
    return v


def make_env(spec_path: str, **overrides) -> StackelbergEnv:
    """Compile `spec_path` and wrap its Stackelberg POMDP.  Keyword arguments named
    ``equilibrium``, ``reward``, ``render_mode``, ``leader_map`` or ``follower_model``
    configure the env;
    the others override the spec's params (like ``--set``)."""
    from mechdsl.compiler import load
    from mechdsl.compiler.build import build_ir

    env_kw = {k: overrides.pop(k) for k in list(overrides) if k in ENV_OPTIONS}
    ir = build_ir(load(spec_path, {k: str(v) for k, v in overrides.items()}))
    return StackelbergEnv(ir, **env_kw)


def _register() -> None:
    if "mechdsl/Stackelberg-v0" not in gym.registry:
        gym.register(id="mechdsl/Stackelberg-v0", entry_point="mechdsl.env:make_env")


_register()
