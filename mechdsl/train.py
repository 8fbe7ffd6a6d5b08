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

The critic.  Every decision of an episode is taken when its information set is first
met, in the first sub-episodes, before any reward and while the followers' weights are
still at their initial value; the rewards come at the end.  So:

* ``mappo``: the critic sees the centralized state at the decision -- the information
  set's features plus what the actor cannot see and the action taken there cannot
  change: the episode's exogenous type draws in its equilibrium sub-episodes (the phase
  and the followers' weights at a decision are always the initial ones).  Its
  target, and the actor's return, is the reward of the state after the equilibrium
  phase with the reward sub-episodes' type draws integrated out -- the followers'
  argmax play valued under the prior, i.e. the value a perfect centralized critic gives
  that state (R -> infinity), computed exactly from the payoff tensors already at hand.
* ``ppo``: the critic sees only the actor's observation; the return is the sampled one.

The answer.  Each evaluation values the greedy map (the argmax action at every
information set) exactly; a run returns the best greedy map it evaluated (as SB3's
EvalCallback keeps the best model).  ``population`` learners (actor, critic,
optimizers, `episodes` each) may train side by side on one batched simulation --
independent restarts sharing the simulation calls -- and the best map of any counts.
"""
from __future__ import annotations

import copy
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Optional

import torch
from torch import nn

from compiler.ir import GameIR
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Payoffs, Policy
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
    target_kl: Optional[float] = 0.1
    """KL budget per iteration (None: off).  The actor's epochs stop once the approximate
    KL to the sampling policy passes 1.5x this, and its learning rate adapts (at most `lr`):
    divided by 1.5 after an iteration that moved the policy more than 2x this, multiplied
    by 1.5 after one that moved it less than half -- so Gaussian heads whose noise has
    shrunk take small steps while categorical ones keep large ones."""
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
    init_log_std: float = -1.0
    """Initial log standard deviation of the Gaussian heads (mixed-row weights as logits,
    interval prices as logits of their position in [low, high])."""
    population: int = 1
    """Learners trained side by side on one batched simulation (each its own actor, critic
    and `episodes`); the run keeps the one whose greedy map is worth most."""
    eval_every: int = 0
    """Steps between greedy evaluations (0: after every iteration)."""
    eval_episodes: int = 16
    """POMDP episodes run with the greedy (argmax) map at each evaluation."""
    patience: int = 10
    """Stop after this many evaluations without improvement once the policy has converged:
    its own episodes do as well as the greedy map's and vary no more (within `min_delta`)."""
    stall: int = 150
    """Stop after this many evaluations without improvement in any case."""
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
    def __init__(self, n_obs: int, n_central: int, K: int, m: int, hidden: int, init_log_std: float = 0.0):
        super().__init__()
        self.actor = mlp(n_obs, hidden, K + m, out_std=0.01)  # K logits (or row weights), m price logits
        self.weight_log_std = nn.Parameter(torch.full((K,), float(init_log_std)))
        self.price_log_std = nn.Parameter(torch.full((m,), float(init_log_std)))
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
    sub-episodes, minus the prior (the reward sub-episodes' draws are integrated out of
    the return).  The followers' weights and the phase at a decision are their initial
    values, the same for every decision, so they carry nothing.  The action taken at s
    cannot change any of these inputs, so the baseline leaves the gradient unbiased."""
    eq = st.eq_types.float()
    eq = eq / eq.sum(-1, keepdim=True).clamp(min=1) - p.tb.prior.float()
    return torch.cat([p.features[s_idx], eq[b_idx] * math.sqrt(p.T)], 1)


def n_central(p: StackelbergPOMDP) -> int:
    return p.features.shape[1] + p.T


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class SeedResult:
    seed: int
    value: float  # exact value of the returned greedy map (spec units)
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


class Learner:
    """One actor-critic of the population with its optimizers and its own stopping state."""

    def __init__(self, agent: Agent, config: TrainConfig):
        self.agent = agent
        self.actor_opt = torch.optim.Adam(agent.actor_parameters(), lr=config.lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=config.critic_lr, eps=1e-5)
        self.best, self.since_best, self.done = -math.inf, 0, False
        self.value, self.regret, self.row = -math.inf, math.inf, {}
        self.lr = config.lr
        self.best_map: Optional[Policy] = None  # the greedy map of its best evaluation
        self.best_regret = math.inf

    def state_dict(self) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "best": self.best, "since_best": self.since_best,
                "done": self.done, "value": self.value, "regret": self.regret, "row": self.row, "lr": self.lr,
                "best_map": self.best_map, "best_regret": self.best_regret}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.agent.load_state_dict(d["agent"])
        self.actor_opt.load_state_dict(d["actor_opt"])
        self.critic_opt.load_state_dict(d["critic_opt"])
        self.best, self.since_best, self.done = d["best"], d["since_best"], d["done"]
        self.value, self.regret, self.row, self.lr = d["value"], d["regret"], d["row"], d["lr"]
        self.best_map, self.best_regret = d["best_map"], d["best_regret"]


def ppo_update(config: TrainConfig, pomdp: StackelbergPOMDP, head: Head, learner: Learner, sample: Sample,
               st: State, target: torch.Tensor, ent_coef: float, gen: torch.Generator) -> dict[str, float]:
    """PPO on one learner's decisions: every information set each episode encountered,
    with the episode's return; then the critic's regression."""
    agent, dev = learner.agent, target.device
    b_idx, s_idx = st.encountered.nonzero(as_tuple=True)
    b_act = sample.action[b_idx, s_idx]
    b_w = sample.weights[b_idx, s_idx].float() if sample.weights is not None else None
    b_p = sample.prices[b_idx, s_idx].float() if sample.prices is not None else None
    with torch.no_grad():
        b_logp, _ = head.logprob_entropy(agent, s_idx, b_act, b_w, b_p)
        b_cin = central_features(pomdp, st, b_idx, s_idx) if config.algo == "mappo" else pomdp.features[s_idx]
        b_values = agent.critic(b_cin).squeeze(-1)
    b_returns = target[b_idx]
    b_adv = b_returns - b_values

    # the actor
    N = len(b_idx)
    mb_size = max(1, math.ceil(N / config.minibatches))
    clipfracs, approx_kl, pg_loss, entropy = [], 0.0, 0.0, 0.0
    for _ in range(config.epochs):
        if config.target_kl is not None and approx_kl > 1.5 * config.target_kl:
            break
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
            learner.actor_opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.actor_parameters(), config.max_grad_norm)
            learner.actor_opt.step()
            pg_loss, entropy = float(pg.detach()), float(entropy_loss.detach())

    with torch.no_grad():  # how far this iteration moved the policy, on all its decisions
        newlogp, _ = head.logprob_entropy(agent, s_idx, b_act, b_w, b_p)
        logratio = newlogp - b_logp
        kl = float(((logratio.exp() - 1) - logratio).mean())
    if config.target_kl is not None:
        if kl > 2 * config.target_kl:
            learner.lr = learner.lr / 1.5
        elif kl < config.target_kl / 2:
            learner.lr = min(config.lr, learner.lr * 1.5)
        for group in learner.actor_opt.param_groups:
            group["lr"] = learner.lr

    # the critic: regress the return on the critic's input
    v_loss = 0.0
    cmb = max(1, min(N, config.critic_minibatch))
    for _ in range(config.critic_epochs):
        perm = torch.randperm(N, generator=gen, device=dev)
        for start in range(0, N, cmb):
            mb = perm[start : start + cmb]
            vl = 0.5 * ((agent.critic(b_cin[mb]).squeeze(-1) - b_returns[mb]) ** 2).mean()
            learner.critic_opt.zero_grad()
            vl.backward()
            nn.utils.clip_grad_norm_(agent.critic.parameters(), config.max_grad_norm)
            learner.critic_opt.step()
            v_loss = float(vl.detach())
    var_y = float(b_returns.var()) if N > 1 else 0.0
    return {
        "entropy": entropy, "approx_kl": kl, "lr": learner.lr, "clipfrac": sum(clipfracs) / max(1, len(clipfracs)),
        "value_loss": v_loss, "policy_loss": pg_loss,
        "explained_variance": math.nan if var_y == 0 else 1 - float((b_returns - b_values).var()) / var_y,
    }


def train_seed(config: TrainConfig, ir: GameIR, seed: int, callback: Optional[Callback] = None,
               resume: Optional[dict[str, Any]] = None, checkpoint: Optional[Callable[[dict], None]] = None,
               checkpoint_every: float = 30.0) -> SeedResult:
    """One run (the CleanRL loop): `population` learners side by side on one batched
    simulation; the run's answer is the learner whose greedy map is worth most."""
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
    learners = [Learner(Agent(F, n_central(pomdp) if mappo else F, pomdp.K, pomdp.m, config.hidden, config.init_log_std).to(dev), config)
                for _ in range(max(1, config.population))]
    span = pomdp.span
    B, E = config.episodes, config.eval_episodes

    steps, it, elapsed, next_eval = 0, 0, 0.0, 0
    curve: list[dict[str, float]] = []
    exact_cache: dict[bytes, Any] = {}
    stopped = "budget"
    if resume is not None and resume.get("seed") == seed:
        for lr_, d in zip(learners, resume["learners"]):
            lr_.load_state_dict(d)
        gen.set_state(resume["generator"])
        steps, it, elapsed, next_eval = resume["steps"], resume["it"], resume["elapsed"], resume["next_eval"]
        curve, stopped = list(resume["curve"]), resume["stopped"]
    t_start = time.time() - elapsed
    last_ckpt = time.time()

    def blob() -> dict[str, Any]:
        """Everything the run needs to continue exactly where it is (a copy: training goes
        on mutating the live tensors; curve rows are never changed once appended)."""
        return {
            "seed": seed, "learners": copy.deepcopy([x.state_dict() for x in learners]), "generator": gen.get_state(),
            "steps": steps, "it": it, "elapsed": time.time() - t_start, "curve": list(curve),
            "next_eval": next_eval, "stopped": stopped,
        }

    # Ctrl-C: finish the iteration, checkpoint, then raise KeyboardInterrupt (twice: at once)
    interrupted, consistent, snapshot = False, True, None
    previous = None

    def on_sigint(signum, frame):
        nonlocal interrupted
        if interrupted:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        interrupted = True

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        while steps < config.steps and stopped == "budget":
            consistent = False
            # ---- rollout: B sampled maps per learner (+ E greedy maps when evaluating) ----
            active = [x for x in learners if not x.done]
            evaluating = steps >= next_eval
            samples = [head.sample(x.agent, B, gen) for x in active]
            greedy = [head.greedy(x.agent) for x in active] if evaluating else []
            maps = [head.to_map(smp) for smp in samples] + [_repeat_map(head.to_map(g), E) for g in greedy]
            st = pomdp.run(_cat_maps(maps), gen)
            ret = st.returns.float()
            worth = pomdp.expected_reward(st).float()  # the reward phase integrated out
            target = worth if mappo else ret
            it += 1
            ent_coef = config.ent_coef
            if config.ent_iterations:
                ent_coef *= max(0.0, 1.0 - (it - 1) / config.ent_iterations)

            # ---- PPO update of each learner on its own episodes ----
            diags = []
            for j, x in enumerate(active):
                rows = slice(j * B, (j + 1) * B)
                part = _rows(st, rows)
                steps += int(part.steps.sum())
                diags.append(ppo_update(config, pomdp, head, x, samples[j], part, target[rows], ent_coef, gen))

            # ---- greedy evaluation: the POMDP's reward phase and the exact value ----
            row = None
            if evaluating:
                next_eval = steps + config.eval_every
                base = len(active) * B
                for j, x in enumerate(active):
                    gmap = head.to_map(greedy[j])
                    key = _map_key(gmap)
                    ex = exact_cache.get(key) if key is not None else None
                    if ex is None:
                        ex = pomdp.exact(gmap)
                        if key is not None:
                            exact_cache[key] = ex
                    g_rows, s_rows = slice(base + j * E, base + (j + 1) * E), slice(j * B, (j + 1) * B)
                    # converged: its sampled maps do as well as its greedy map and vary no more
                    gap = float(worth[g_rows].mean() - worth[s_rows].mean())
                    spread = float(worth[s_rows].std() - worth[g_rows].std()) if E > 1 else 0.0
                    x.value, x.regret = float(ex.value[0]), float(ex.regret[0])
                    x.row = {"normalized": float(ex.normalized[0]), "greedy_reward": float(ret[g_rows].mean()),
                             "return": float(ret[s_rows].mean()), "policy_gap": gap, "policy_spread": spread, **diags[j]}
                    x.since_best = 0 if x.value > x.best + config.min_delta * span else x.since_best + 1
                    if (x.value, -x.regret) > (x.best, -x.best_regret):
                        x.best, x.best_regret, x.best_map = x.value, x.regret, gmap
                    converged = gap <= config.min_delta and spread <= config.min_delta
                    if (x.since_best >= config.patience and converged) or x.since_best >= config.stall:
                        x.done = True
                lead = max(learners, key=lambda x: (x.value, -x.regret))
                row = {"steps": steps, "seconds": time.time() - t_start, "iteration": it,
                       "value": lead.value, "regret": lead.regret, **lead.row,
                       "best": max(x.best for x in learners)}
                curve.append(row)
                if config.target is not None and lead.value >= config.target - config.tol * span:
                    stopped = "target"
                elif all(x.done for x in learners):
                    stopped = "converged"
            if config.max_seconds and time.time() - t_start > config.max_seconds:
                stopped = "time"
            consistent = True  # a whole iteration is done: the state can be saved as it is
            if row is not None and callback is not None:
                callback({"seed": seed, **row})
            if interrupted:
                raise KeyboardInterrupt
            if stopped != "budget":
                break
            if checkpoint is not None and time.time() - last_ckpt > checkpoint_every:
                snapshot = blob()
                checkpoint(snapshot)
                last_ckpt = time.time()
    except KeyboardInterrupt:
        if checkpoint is not None and (consistent or snapshot is not None):
            checkpoint(blob() if consistent else snapshot)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    # the answer: the best greedy map any learner showed at an evaluation, or its final one
    finals = []
    for x in learners:
        for gmap in (x.best_map, head.to_map(head.greedy(x.agent))):
            if gmap is not None:
                finals.append((pomdp.exact(gmap), gmap, x))
    ex, gmap, x = max(finals, key=lambda f: (float(f[0].value[0]), -float(f[0].regret[0])))
    return SeedResult(
        seed=seed, value=float(ex.value[0]), normalized=float(ex.normalized[0]), regret=float(ex.regret[0]),
        steps=steps, seconds=time.time() - t_start, curve=curve, policy=_policy_dict(gmap),
        agent_state={k: v.detach().cpu() for k, v in x.agent.state_dict().items()}, stopped=stopped,
    )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _rows(st: State, rows: slice) -> State:
    """Some episodes of a batch (one learner's)."""
    pay = Payoffs(st.payoffs.U[rows], st.payoffs.V[rows], st.payoffs.path[rows])
    cut = lambda x: None if x is None else x[rows]  # noqa: E731
    return replace(
        st, map=Policy(st.map.action[rows], cut(st.map.probs), cut(st.map.prices)), phase=st.phase[rows], payoffs=pay,
        logw=tuple(w[rows] for w in st.logw), eq_types=st.eq_types[rows], visits=st.visits[rows],
        reward_types=st.reward_types[rows], reward_actions=st.reward_actions[rows], rewards=st.rewards[rows],
        encountered=st.encountered[rows], steps=st.steps[rows],
    )


def _repeat_map(p: Policy, E: int) -> Policy:
    rep = lambda x: None if x is None else x.expand(E, *x.shape[1:]).contiguous()  # noqa: E731
    return Policy(rep(p.action), rep(p.probs), rep(p.prices))


def _cat_maps(maps: list[Policy]) -> Policy:
    cat = lambda xs: None if xs[0] is None else torch.cat(xs, 0)  # noqa: E731
    return Policy(cat([m.action for m in maps]), cat([m.probs for m in maps]), cat([m.prices for m in maps]))


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
