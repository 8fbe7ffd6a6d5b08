"""Learn the leader's policy in the Stackelberg POMDP with PPO and a centralized critic
(MAPPO, paper Section 7 and Appendix A).  Reads like CleanRL's ppo.py, but importable:

>>> result = train(TrainConfig(seeds=1), ir)        # doctest: +SKIP
>>> result.best.value, result.best.curve[-1]        # doctest: +SKIP

One iteration: draw the observation-action maps of `episodes` POMDP episodes from the
actor (one action per information set), run the episodes (`mechdsl.pomdp`), and take
every information set an episode encountered as one decision whose return is the
episode's mean normalized reward.  PPO then updates the actor on those decisions.

Steps.  A *step* is one environment step of the Stackelberg POMDP as the paper counts
them for Stable-Baselines3: one leader decision in one sub-episode, counting every
rollout of every equilibrium sub-episode (each follower, each alternative action) and
every reward sub-episode.  `mechdsl.env.StackelbergEnv` takes exactly that many steps
for the same episode.  ``TrainConfig.steps`` is a budget in these steps.

The critic.  Every decision of an episode is taken before any reward arrives, when the
followers' weights are still at their initial value, so what a critic can usefully know
at a decision is what does not depend on the action taken there:

* ``mappo``: the centralized state -- the information set's features, the phase and
  follower weights at the decision (initial), and the episode's exogenous draws: the
  type profiles of its equilibrium and reward sub-episodes and the other information
  sets' entries of the observation-action map.  Its regression target is the return
  with the reward sub-episodes integrated out given the state after the equilibrium
  phase (the followers' weights and the map): the value a perfect centralized critic
  assigns to that state, computed exactly from the same payoff tensors.
* ``ppo``: the actor's observation only; its target is the sampled return.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Optional

import torch
from torch import nn

from compiler.ir import GameIR
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Policy
from mechdsl.pomdp import StackelbergPOMDP, State

ALGOS = ("mappo", "ppo")


@dataclass
class TrainConfig:
    """Everything a training run depends on (with the spec).  Field docstrings follow
    each field; `TrainConfig.help()` lists them."""

    steps: int = 400_000_000
    """Budget in Stackelberg-POMDP environment steps (leader decisions, all sub-episodes)."""
    seeds: int = 1
    """How many independent runs (seeds `seed`, `seed`+1, ...)."""
    seed: int = 0
    """The first seed; a run is a pure function of (spec, config, seed)."""
    algo: str = "mappo"
    """`mappo` (centralized critic) or `ppo` (critic sees only the actor's observation)."""
    lr: float = 1e-2
    """Adam learning rate of the actor."""
    episodes: int = 256
    """POMDP episodes simulated in parallel per iteration (each one a full map draw)."""
    epochs: int = 4
    """PPO epochs over each iteration's decisions."""
    minibatches: int = 1
    """Minibatches per epoch."""
    clip: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient at the start (keeps early choices open)."""
    ent_iterations: int = 0
    """Iterations over which the entropy bonus falls linearly to 0 (0: constant)."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic (its own optimizer)."""
    critic_epochs: int = 4
    """Passes of critic regression over each iteration's decisions."""
    critic_minibatch: int = 256
    """Decisions per critic minibatch."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip."""
    hidden: int = 64
    """Width of the two hidden layers of actor and critic."""
    eval_every: int = 0
    """Steps between greedy evaluations (0: after every iteration)."""
    eval_episodes: int = 16
    """POMDP episodes run with the greedy (argmax) map at each evaluation."""
    patience: int = 10
    """Stop after this many evaluations without improvement once the policy has converged:
    its own episodes do as well as the greedy map's, and vary no more (within `tol`)."""
    tol: float = 0.01
    """Success tolerance for `target`, as a fraction of the objective's range."""
    min_delta: float = 0.001
    """Smallest change that counts as an improvement (and largest gap between the sampled
    policy and its greedy map that counts as converged), as a fraction of the range."""
    target: Optional[float] = None
    """Stop as soon as the exact greedy value is within `tol` of this (spec units)."""
    max_seconds: float = 0.0
    """Wall-clock limit per seed (0: none)."""
    equilibrium: Optional[int] = None
    """Override T, the equilibrium sub-episodes (default: the spec's dynamics block)."""
    reward: Optional[int] = None
    """Override R, the reward sub-episodes (default: the spec's dynamics block)."""
    device: str = "cpu"
    """`cpu` or `cuda`."""
    threads: int = 1
    """torch intra-op threads (these tensors are small: 1 is fastest on a busy CPU)."""

    @classmethod
    def help(cls) -> dict[str, str]:
        import ast
        import inspect
        import textwrap

        src = textwrap.dedent(inspect.getsource(cls))
        body = ast.parse(src).body[0].body
        out: dict[str, str] = {}
        for a, b in zip(body, body[1:]):
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                out[a.target.id] = str(b.value.value)
        return out

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def updated(self, values: dict[str, Any]) -> "TrainConfig":
        """A copy with `values` applied (text is converted to the field's type)."""
        out = TrainConfig(**asdict(self))
        kinds = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        for key, val in values.items():
            if key not in kinds:
                raise KeyError(key)
            cur = getattr(self, key)
            if isinstance(val, str) and not isinstance(cur, str):
                if val.lower() in ("none", "null"):
                    val = None
                elif isinstance(cur, bool):
                    val = val.lower() in ("1", "true", "yes", "on")
                elif isinstance(cur, int) and kinds[key] is int:
                    val = int(float(val))
                else:
                    val = float(val)
            elif isinstance(cur, int) and not isinstance(cur, bool) and isinstance(val, float) and val.is_integer():
                val = int(val)
            setattr(out, key, val)
        if out.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {out.algo!r}")
        return out


def config_for(ir: GameIR, overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Defaults, then the spec's `training` block, then `overrides` (the CLI)."""
    cfg = TrainConfig()
    spec = {k: v for k, v in (ir.model.training or {}).items() if k in TrainConfig.names()}
    return cfg.updated(spec).updated(overrides or {})


# ---------------------------------------------------------------------------
# the agent: a masked categorical over actions, Gaussian row weights for mixed choose
# sets, Gaussian logits squashed into [low, high] for interval prices
# ---------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(n_in: int, hidden: int, n_out: int, out_std: float) -> nn.Sequential:
    return nn.Sequential(
        layer_init(nn.Linear(n_in, hidden)), nn.Tanh(),
        layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
        layer_init(nn.Linear(hidden, n_out), std=out_std),
    )


class Agent(nn.Module):
    def __init__(self, n_obs: int, n_central: int, K: int, m: int, hidden: int):
        super().__init__()
        self.actor = mlp(n_obs, hidden, K + m, out_std=0.01)  # K logits (or row weights), m price logits
        self.weight_log_std = nn.Parameter(torch.zeros(K))
        self.price_log_std = nn.Parameter(torch.zeros(m))
        self.critic = mlp(n_central, hidden, 1, out_std=1.0)
        self.K = K

    def actor_parameters(self):
        return [*self.actor.parameters(), self.weight_log_std, self.price_log_std]

    def heads(self, obs: torch.Tensor, legal: torch.Tensor):
        out = self.actor(obs)
        logits = out[:, : self.K].masked_fill(~legal, -1e9)
        return logits, out[:, : self.K], out[:, self.K :]


@dataclass
class Sample:
    """The actor's draw of B maps: discrete actions, row weights, price logits."""

    action: torch.Tensor  # [B, S]
    weights: Optional[torch.Tensor]  # [B, S, K]
    prices: Optional[torch.Tensor]  # [B, S, m]


class Head:
    """The policy distribution over a whole map, per information set."""

    def __init__(self, pomdp: StackelbergPOMDP):
        self.p = pomdp
        self.mixed = pomdp.mixed_sets  # [S]
        self.priced = pomdp.priced  # [S, m]
        self.has_weights = bool(pomdp.ir.mixed)
        self.has_prices = pomdp.ir.interval is not None

    def sample(self, agent: Agent, B: int, gen: torch.Generator) -> Sample:
        obs, legal = self.p.observe()
        with torch.no_grad():
            logits, mean_w, mean_p = agent.heads(obs, legal)
            probs = torch.softmax(logits, -1)
            action = torch.multinomial(probs, B, replacement=True, generator=gen).T.contiguous()
            weights = prices = None
            if self.has_weights:
                std = agent.weight_log_std.exp()
                weights = mean_w + std * torch.randn(B, *mean_w.shape, generator=gen, device=obs.device)
            if self.has_prices:
                std = agent.price_log_std.exp()
                prices = mean_p + std * torch.randn(B, *mean_p.shape, generator=gen, device=obs.device)
        return Sample(action, weights, prices)

    def greedy(self, agent: Agent) -> Sample:
        obs, legal = self.p.observe()
        with torch.no_grad():
            logits, mean_w, mean_p = agent.heads(obs, legal)
        return Sample(
            logits.argmax(-1).unsqueeze(0),
            mean_w.unsqueeze(0) if self.has_weights else None,
            mean_p.unsqueeze(0) if self.has_prices else None,
        )

    def to_map(self, s: Sample) -> Policy:
        return self.p.make_map(s.action, s.weights, s.prices)

    def logprob_entropy(self, agent: Agent, s_idx, action, weights, prices):
        """log pi(decision) and the entropy at it, for decisions at info sets s_idx."""
        obs, legal = self.p.observe()
        logits, mean_w, mean_p = agent.heads(obs, legal)
        logp_all = torch.log_softmax(logits, -1)
        p_all = logp_all.exp()
        ent_all = -(p_all * logp_all).sum(-1)  # [S]
        logp = logp_all[s_idx].gather(1, action.unsqueeze(1)).squeeze(1)
        ent = ent_all[s_idx]
        if self.has_weights:
            lg = legal[s_idx].float()
            nd = torch.distributions.Normal(mean_w[s_idx], agent.weight_log_std.exp())
            lp_w = (nd.log_prob(weights) * lg).sum(-1)
            en_w = (nd.entropy() * lg).sum(-1)
            mixed = self.mixed[s_idx]
            logp = torch.where(mixed, lp_w, logp)
            ent = torch.where(mixed, en_w, ent)
        if self.has_prices:
            pr = self.priced[s_idx].float()
            nd = torch.distributions.Normal(mean_p[s_idx], agent.price_log_std.exp())
            logp = logp + (nd.log_prob(prices) * pr).sum(-1)
            ent = ent + (nd.entropy() * pr).sum(-1)
        return logp, ent


# ---------------------------------------------------------------------------
# critic inputs
# ---------------------------------------------------------------------------


def central_features(p: StackelbergPOMDP, st: State, b_idx: torch.Tensor, s_idx: torch.Tensor) -> torch.Tensor:
    """MAPPO's critic input at decision (b, s): the information set's features and the
    episode's exogenous draws -- how often each type profile came up in its equilibrium
    and its reward sub-episodes, minus the prior.  (The followers' weights and the phase
    at a decision are their initial values, the same for every decision, so they carry
    nothing; the action taken at s cannot change any of these inputs, so the baseline
    leaves the policy gradient unbiased.)"""
    prior = p.tb.prior.float()
    eq = st.eq_types.float()
    eq = eq / eq.sum(-1, keepdim=True).clamp(min=1) - prior
    rw = torch.nn.functional.one_hot(st.reward_types, p.T).float().mean(1) - prior
    scale = math.sqrt(p.T)
    return torch.cat([p.features[s_idx], eq[b_idx] * scale, rw[b_idx] * scale], 1)


def n_central(p: StackelbergPOMDP) -> int:
    return p.features.shape[1] + 2 * p.T


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class SeedResult:
    seed: int
    value: float  # exact value of the final greedy map (spec units)
    normalized: float
    regret: float
    steps: int
    seconds: float
    curve: list[dict[str, float]]  # one row per evaluation
    policy: dict[str, torch.Tensor]  # the final greedy map: action [S], probs [S,K], prices [S,m]
    agent_state: dict[str, torch.Tensor]
    stopped: str = ""

    def first_within(self, optimum: float, tol_abs: float) -> Optional[dict[str, float]]:
        """The first evaluation whose exact value is within tol_abs of optimum."""
        for row in self.curve:
            if row["value"] >= optimum - tol_abs:
                return row
        return None


@dataclass
class TrainResult:
    config: TrainConfig
    runs: list[SeedResult]
    seconds: float

    @property
    def best(self) -> SeedResult:
        return max(self.runs, key=lambda r: (r.value, -r.regret))


Callback = Callable[[dict[str, Any]], None]


def train(config: TrainConfig, ir: GameIR, callback: Optional[Callback] = None,
          resume: Optional[dict[str, Any]] = None, checkpoint: Optional[Callable[[dict], None]] = None,
          checkpoint_every: float = 30.0) -> TrainResult:
    """Train `config.seeds` seeds one after another.

    callback(event): called after every evaluation with the curve row (plus `seed`);
    checkpoint(blob): called every `checkpoint_every` seconds, at the end of each seed
    and on KeyboardInterrupt (then re-raised) with a blob `train(..., resume=blob)` continues from."""
    t0 = time.time()
    done: list[SeedResult] = [SeedResult(**r) for r in (resume or {}).get("done", [])]
    partial = (resume or {}).get("partial")
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        for k in range(len(done), config.seeds):
            seed = config.seed + k

            def save(blob, done=done):
                if checkpoint is not None:
                    checkpoint({"done": [asdict(r) for r in done], "partial": blob})

            res = train_seed(config, ir, seed, callback=callback, resume=partial, checkpoint=save,
                             checkpoint_every=checkpoint_every)
            partial = None
            done.append(res)
            if checkpoint is not None:
                checkpoint({"done": [asdict(r) for r in done], "partial": None})
    finally:
        torch.set_num_threads(old_threads)
    return TrainResult(config=config, runs=done, seconds=time.time() - t0)


def train_seed(config: TrainConfig, ir: GameIR, seed: int, callback: Optional[Callback] = None,
               resume: Optional[dict[str, Any]] = None, checkpoint: Optional[Callable[[dict], None]] = None,
               checkpoint_every: float = 30.0) -> SeedResult:
    """One PPO / MAPPO run (the CleanRL loop)."""
    dev = torch.device(config.device)
    mw = MWConfig.from_ir(ir)
    if config.equilibrium is not None:
        mw.rounds = int(config.equilibrium)
    pomdp = StackelbergPOMDP(ir, dev, mw=mw, reward_rounds=config.reward)
    head = Head(pomdp)
    torch.manual_seed(seed)  # only network initialization reads the global generator
    gen = torch.Generator(device=dev).manual_seed(seed)
    mappo = config.algo == "mappo"
    F = pomdp.features.shape[1]
    agent = Agent(F, n_central(pomdp) if mappo else F, pomdp.K, pomdp.m, config.hidden).to(dev)
    actor_opt = torch.optim.Adam(agent.actor_parameters(), lr=config.lr, eps=1e-5)
    critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=config.critic_lr, eps=1e-5)
    span = pomdp.span

    steps, it, elapsed = 0, 0, 0.0
    curve: list[dict[str, float]] = []
    best, since_best = -math.inf, 0
    exact_cache: dict[bytes, Any] = {}
    next_eval = 0
    if resume is not None and resume.get("seed") == seed:
        agent.load_state_dict(resume["agent"])
        actor_opt.load_state_dict(resume["actor_opt"])
        critic_opt.load_state_dict(resume["critic_opt"])
        gen.set_state(resume["generator"])
        steps, it, elapsed = resume["steps"], resume["it"], resume["elapsed"]
        curve, best, since_best, next_eval = resume["curve"], resume["best"], resume["since_best"], resume["next_eval"]
    t_start = time.time() - elapsed
    last_ckpt = time.time()

    def blob() -> dict[str, Any]:
        """A deep copy of everything the run needs to continue exactly where it is."""
        return copy.deepcopy({
            "seed": seed, "agent": agent.state_dict(), "actor_opt": actor_opt.state_dict(),
            "critic_opt": critic_opt.state_dict(), "generator": gen.get_state(), "steps": steps, "it": it,
            "elapsed": time.time() - t_start, "curve": curve, "best": best, "since_best": since_best,
            "next_eval": next_eval, "stopped": stopped,
        })

    stopped = resume.get("stopped", "budget") if resume is not None and resume.get("seed") == seed else "budget"
    snapshot = blob()
    try:
        while steps < config.steps and stopped == "budget":
            # ---- rollout: B sampled maps (+ the greedy map when an evaluation is due) ----
            B = config.episodes
            sample = head.sample(agent, B, gen)
            evaluating = steps >= next_eval
            E = config.eval_episodes if evaluating else 0
            g = head.greedy(agent)
            maps = head.to_map(sample)
            if E:
                gm = head.to_map(g)
                maps = _cat_maps(maps, _repeat_map(gm, E))
            st = pomdp.run(maps, gen)
            ret = st.returns.float()  # [B+E]
            worth = pomdp.expected_reward(st).float()  # [B+E] reward phase integrated out
            target = worth[:B] if mappo else ret[:B]
            enc = st.encountered[:B]
            b_idx, s_idx = enc.nonzero(as_tuple=True)
            steps += int(st.steps[:B].sum())
            it += 1

            # ---- decisions, values, advantages ----
            b_act = sample.action[b_idx, s_idx]
            b_w = sample.weights[b_idx, s_idx].float() if sample.weights is not None else None
            b_p = sample.prices[b_idx, s_idx].float() if sample.prices is not None else None
            with torch.no_grad():
                b_logp, _ = head.logprob_entropy(agent, s_idx, b_act, b_w, b_p)
                if mappo:
                    b_cin = central_features(pomdp, _rows(st, B), b_idx, s_idx)
                else:
                    b_cin = pomdp.features[s_idx]
                b_values = agent.critic(b_cin).squeeze(-1)
            b_returns = target[b_idx]
            b_adv = b_returns - b_values

            # ---- PPO update of the actor ----
            ent_coef = config.ent_coef
            if config.ent_iterations:
                ent_coef *= max(0.0, 1.0 - (it - 1) / config.ent_iterations)
            N = len(b_idx)
            mb_size = max(1, math.ceil(N / config.minibatches))
            clipfracs, approx_kl, pg_loss, entropy = [], 0.0, 0.0, 0.0
            for _ in range(config.epochs):
                perm = torch.randperm(N, generator=gen, device=dev)
                for start in range(0, N, mb_size):
                    mb = perm[start : start + mb_size]
                    newlogp, ent = head.logprob_entropy(
                        agent, s_idx[mb], b_act[mb], None if b_w is None else b_w[mb], None if b_p is None else b_p[mb]
                    )
                    logratio = newlogp - b_logp[mb]
                    ratio = logratio.exp()
                    with torch.no_grad():
                        approx_kl = float(((ratio - 1) - logratio).mean())
                        clipfracs.append(float(((ratio - 1.0).abs() > config.clip).float().mean()))
                    mb_adv = b_adv[mb]
                    if len(mb) > 1:
                        mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                    pg1 = -mb_adv * ratio
                    pg2 = -mb_adv * torch.clamp(ratio, 1 - config.clip, 1 + config.clip)
                    pg = torch.max(pg1, pg2).mean()
                    entropy_loss = ent.mean()
                    loss = pg - ent_coef * entropy_loss
                    actor_opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.actor_parameters(), config.max_grad_norm)
                    actor_opt.step()
                    pg_loss, entropy = float(pg.detach()), float(entropy_loss.detach())

            # ---- the critic: regress the return on the critic's input ----
            v_loss = 0.0
            cmb = max(1, min(N, config.critic_minibatch))
            for _ in range(config.critic_epochs):
                perm = torch.randperm(N, generator=gen, device=dev)
                for start in range(0, N, cmb):
                    mb = perm[start : start + cmb]
                    newv = agent.critic(b_cin[mb]).squeeze(-1)
                    vl = 0.5 * ((newv - b_returns[mb]) ** 2).mean()
                    critic_opt.zero_grad()
                    vl.backward()
                    nn.utils.clip_grad_norm_(agent.critic.parameters(), config.max_grad_norm)
                    critic_opt.step()
                    v_loss = float(vl.detach())
            var_y = float(b_returns.var()) if N > 1 else 0.0
            explained_var = math.nan if var_y == 0 else 1 - float((b_returns - b_values).var()) / var_y

            # ---- greedy evaluation: the POMDP's reward phase and the exact value ----
            row = None
            if evaluating:
                next_eval = steps + config.eval_every
                gmap = head.to_map(g)
                key = _map_key(gmap)
                ex = exact_cache.get(key) if key is not None else None
                if ex is None:
                    ex = pomdp.exact(gmap)
                    if key is not None:
                        exact_cache[key] = ex
                value = float(ex.value[0])
                # converged: the sampled maps do as well as the greedy one and vary no more
                gap = float(worth[B:].mean() - worth[:B].mean())
                spread = float(worth[:B].std() - worth[B:].std()) if E > 1 else 0.0
                row = {
                    "steps": steps, "seconds": time.time() - t_start, "iteration": it,
                    "value": value, "normalized": float(ex.normalized[0]), "regret": float(ex.regret[0]),
                    "greedy_reward": float(ret[B:].mean()), "return": float(ret[:B].mean()),
                    "policy_gap": gap, "policy_spread": spread, "entropy": entropy, "approx_kl": approx_kl,
                    "clipfrac": sum(clipfracs) / max(1, len(clipfracs)), "value_loss": v_loss,
                    "policy_loss": pg_loss, "explained_variance": explained_var,
                }
                curve.append(row)
                if value > best + config.min_delta * span:
                    best, since_best = value, 0
                else:
                    best, since_best = max(best, value), since_best + 1
                if config.target is not None and value >= config.target - config.tol * span:
                    stopped = "target"
                elif since_best >= config.patience and gap <= config.min_delta and spread <= config.min_delta:
                    stopped = "converged"
            if config.max_seconds and time.time() - t_start > config.max_seconds:
                stopped = "time"
            snapshot = blob()  # the state after a whole iteration: what Ctrl-C saves
            if row is not None and callback is not None:
                callback({"seed": seed, **row})
            if stopped != "budget":
                break
            if checkpoint is not None and time.time() - last_ckpt > checkpoint_every:
                checkpoint(snapshot)
                last_ckpt = time.time()
    except KeyboardInterrupt:
        if checkpoint is not None:
            checkpoint(snapshot)
        raise

    gmap = head.to_map(head.greedy(agent))
    ex = pomdp.exact(gmap)
    policy = _policy_dict(gmap)
    return SeedResult(
        seed=seed, value=float(ex.value[0]), normalized=float(ex.normalized[0]), regret=float(ex.regret[0]),
        steps=steps, seconds=time.time() - t_start, curve=curve, policy=policy,
        agent_state={k: v.detach().cpu() for k, v in agent.state_dict().items()}, stopped=stopped,
    )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _rows(st: State, B: int) -> State:
    """The first B episodes of a state (the sampled ones; greedy ones follow)."""
    from dataclasses import replace

    from mechdsl.evaluate import Payoffs

    pay = Payoffs(st.payoffs.U[:B], st.payoffs.V[:B], st.payoffs.path[:B])
    return replace(
        st, map=_slice_map(st.map, B), phase=st.phase[:B], payoffs=pay, logw=tuple(w[:B] for w in st.logw),
        eq_types=st.eq_types[:B], visits=st.visits[:B], reward_types=st.reward_types[:B],
        reward_actions=st.reward_actions[:B], rewards=st.rewards[:B], encountered=st.encountered[:B], steps=st.steps[:B],
    )


def _slice_map(p: Policy, B: int) -> Policy:
    return Policy(p.action[:B], None if p.probs is None else p.probs[:B], None if p.prices is None else p.prices[:B])


def _repeat_map(p: Policy, E: int) -> Policy:
    rep = lambda x: None if x is None else x.expand(E, *x.shape[1:]).contiguous()  # noqa: E731
    return Policy(rep(p.action), rep(p.probs), rep(p.prices))


def _cat_maps(a: Policy, b: Policy) -> Policy:
    cat = lambda x, y: None if x is None else torch.cat([x, y], 0)  # noqa: E731
    return Policy(cat(a.action, b.action), cat(a.probs, b.probs), cat(a.prices, b.prices))


def _map_key(p: Policy) -> Optional[bytes]:
    """A cache key for a discrete map (None when it has continuous parts)."""
    if p.probs is not None or p.prices is not None:
        return None
    return p.action.cpu().numpy().tobytes()


def _policy_dict(gmap: Policy) -> dict[str, torch.Tensor]:
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
    return _policy_dict(head.to_map(head.greedy(agent)))


def policy_map(policy: dict[str, torch.Tensor], device: str = "cpu") -> Policy:
    """A saved greedy policy back into a one-row map."""
    get = lambda k: None if k not in policy else policy[k].unsqueeze(0).to(device)  # noqa: E731
    return Policy(get("action"), get("probs"), get("prices"))
