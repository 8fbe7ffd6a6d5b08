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

This module is the loop; its parts live in `mechdsl.config` (settings), `mechdsl.nets`
(networks, policy heads, critic input), `mechdsl.ppo` (the update) and `mechdsl.greedy`
(greedy maps as saved policies).
"""
from __future__ import annotations

import copy
import signal
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Optional

import torch

from mechdsl.compiler.ir import GameIR
from mechdsl.config import TrainConfig
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Payoffs, Policy
from mechdsl.greedy import policy_dict
from mechdsl.memory import choose_mode
from mechdsl.nets import Agent, Head, n_central
from mechdsl.pomdp import StackelbergPOMDP, State
from mechdsl.ppo import Learner, ppo_update


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
    mode: str = "exact"  # how it ran: `exact` payoff tensors or `sampled` (mechdsl.sampled)

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
    """One run (the CleanRL loop): `population` learners side by side on one batched
    simulation; the run's answer is the learner whose greedy map is worth most."""
    mode = choose_mode(ir, config.mode, config.episodes, config.eval_episodes, max(1, config.population),
                       int(config.reward if config.reward is not None else ir.model.dynamics.reward), config.device,
                       config.memory_budget)
    dev = torch.device(config.device)
    mw = MWConfig.from_ir(ir, config.ties)
    if config.equilibrium is not None:
        mw.rounds = int(config.equilibrium)
    if mode == "sampled":
        from mechdsl.sampled import SampledPOMDP

        pomdp = SampledPOMDP(ir, dev, mw=mw, reward_rounds=config.reward, samples=config.check_samples, seed=seed)
    else:
        pomdp = StackelbergPOMDP(ir, dev, mw=mw, reward_rounds=config.reward)
    head = Head(pomdp)
    torch.manual_seed(seed)  # only network initialization reads the global generator
    gen = torch.Generator(device=dev).manual_seed(seed)
    mappo = config.algo == "mappo"
    F = pomdp.features.shape[1]
    learners = [Learner(Agent(F, n_central(pomdp) if mappo else F, pomdp.K, pomdp.m, config.hidden,
                              config.init_log_std).to(dev), config)
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
            it += 1
            soften = max(0.0, 1.0 - (it - 1) / config.soften_ties) if config.soften_ties else 0.0
            exact_worth = pomdp.expected_reward(st)  # the reward phase integrated out
            worth = exact_worth.float()
            target = worth if mappo else ret
            if mappo and soften:
                target = ((1.0 - soften) * exact_worth + soften * pomdp.spread_reward(st)).float()
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
                    g_rows, s_rows = slice(base + j * E, base + (j + 1) * E), slice(j * B, (j + 1) * B)
                    key = _map_key(gmap)
                    ex = exact_cache.get(key) if key is not None else None
                    if ex is None:
                        # sampled mode: the followers' weights of its greedy episodes (no new MW run)
                        own = {"logw": tuple(w[g_rows] for w in st.logw)} if mode == "sampled" else {}
                        ex = pomdp.exact(gmap, **own)
                        if key is not None:
                            exact_cache[key] = ex
                    # converged: its sampled maps do as well as its greedy map and vary no more
                    gap = float(worth[g_rows].mean() - worth[s_rows].mean())
                    spread = float(worth[s_rows].std() - worth[g_rows].std()) if E > 1 else 0.0
                    x.value, x.regret = float(ex.value[0]), float(ex.regret[0])
                    x.row = {"normalized": float(ex.normalized[0]), "greedy_reward": float(ret[g_rows].mean()),
                             "return": float(ret[s_rows].mean()), "policy_gap": gap, "policy_spread": spread, **diags[j]}
                    x.since_best = 0 if x.value > x.best + config.min_delta * span else x.since_best + 1
                    x.best = max(x.best, x.value)
                    x.key = rank(ex, config.tol)
                    if x.key > x.best_key:
                        x.best_key, x.best_map = x.key, gmap
                    converged = gap <= config.min_delta and spread <= config.min_delta
                    if (x.since_best >= config.patience and converged) or x.since_best >= config.stall:
                        x.done = True
                lead = max(learners, key=lambda x: x.key)
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
    ex, gmap, x = max(finals, key=lambda f: rank(f[0], config.tol))
    return SeedResult(
        seed=seed, value=float(ex.value[0]), normalized=float(ex.normalized[0]), regret=float(ex.regret[0]),
        steps=steps, seconds=time.time() - t_start, curve=curve, policy=policy_dict(gmap),
        agent_state={k: v.detach().cpu() for k, v in x.agent.state_dict().items()}, stopped=stopped, mode=mode,
    )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def rank(ex, tol: float) -> tuple[bool, float, float]:
    """How greedy maps compare: a map whose followers' regret is within `tol` of their
    payoff range beats any map whose is not (a high-regret value is no equilibrium's);
    then higher value, then lower regret."""
    frac = float(ex.regret_fraction[0])
    return (frac <= tol, float(ex.value[0]), -frac)


def _rows(st: State, rows: slice) -> State:
    """Some episodes of a batch (one learner's)."""
    cut = lambda x: None if x is None else x[rows]  # noqa: E731
    pay = None if st.payoffs is None else Payoffs(st.payoffs.U[rows], st.payoffs.V[rows], st.payoffs.path[rows])
    return replace(
        st, map=Policy(st.map.action[rows], cut(st.map.probs), cut(st.map.prices)), phase=st.phase[rows], payoffs=pay,
        logw=tuple(w[rows] for w in st.logw), eq_types=st.eq_types[rows], visits=cut(st.visits),
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
