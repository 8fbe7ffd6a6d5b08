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
EvalCallback keeps the best model), then ends with an exact step on it: the hill climb
of `mechdsl.polish` (pure maps), the linear programs of `mechdsl.refine` (mixtures), or
the best message-blind map of `mechdsl.pooling`, each kept only where it ranks higher
(the pooled map also on equal rank; `finish_map`).  ``population`` learners (actor, critic,
optimizers, `episodes` each) may train side by side on one batched simulation --
independent restarts sharing the simulation calls -- and the best map of any counts.

The paper's ablations: ``algo = ppo`` (above); ``episode_map = false``, every decision
drawn afresh instead of from a per-episode map (`mechdsl.fresh`); ``response_prob < 1``,
decisions met only in the equilibrium phase left out of the batch with that
probability (`response_keep`; 0 is the paper's "basic POMDP").

This module is the loop; its parts live in `mechdsl.config` (settings), `mechdsl.nets`
(networks, policy heads, critic input), `mechdsl.ppo` (the update) and `mechdsl.greedy`
(greedy maps as saved policies).
"""
from __future__ import annotations

import copy
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Optional

import torch

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.config import TrainConfig
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Payoffs, Policy
from mechdsl.fresh import check_fresh, n_central_fresh, run_fresh
from mechdsl.greedy import policy_dict
from mechdsl.memory import check_training, choose_mode
from mechdsl.nets import Agent, Head, n_central
from mechdsl.polish import cheap_exact, polish
from mechdsl.pooling import pool
from mechdsl.refine import refine
from mechdsl.pomdp import StackelbergPOMDP, State
from mechdsl.ppo import Learner, ppo_update, update

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
    polish: dict[str, Any] = field(default_factory=dict)  # what the exact hill climb did (mechdsl.polish)
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
          checkpoint_every: float = 30.0, on_seed_end: Optional[Callable[[int], None]] = None) -> TrainResult:
    """Train `config.seeds` seeds one after another (`mechdsl.parallel` runs them in
    worker processes, with the same results).

    callback(event): called after every evaluation with the curve row (plus `seed`);
    checkpoint(blob): called every `checkpoint_every` seconds, at the end of each seed
    and on KeyboardInterrupt (then re-raised) with a blob `train(..., resume=blob)` continues from;
    on_seed_end(seed): called when a seed has finished."""
    t0 = time.time()
    done, partials = resumed(resume)
    old_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        for seed in seed_numbers(config):
            if seed in done:
                continue

            def save(blob, seed=seed):
                if checkpoint is not None:
                    checkpoint(checkpoint_blob(done, {**partials, seed: blob}))

            done[seed] = train_seed(config, ir, seed, callback=callback, resume=partials.pop(seed, None),
                                    checkpoint=save, checkpoint_every=checkpoint_every)
            if checkpoint is not None:
                checkpoint(checkpoint_blob(done, partials))
            if on_seed_end is not None:
                on_seed_end(seed)
    finally:
        torch.set_num_threads(old_threads)
    return TrainResult(config=config, runs=[done[s] for s in sorted(done)], seconds=time.time() - t0)


def seed_numbers(config: TrainConfig) -> list[int]:
    return [config.seed + k for k in range(config.seeds)]


def partial_blobs(blob: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """The interrupted seeds' states in a checkpoint blob: `partials`, one per seed that
    was running (several when seeds ran in parallel); older blobs hold one `partial`."""
    blob = blob or {}
    return list(blob.get("partials") or []) + ([blob["partial"]] if blob.get("partial") else [])


def resumed(blob: Optional[dict[str, Any]]) -> tuple[dict[int, SeedResult], dict[int, dict[str, Any]]]:
    """A checkpoint blob as (finished seeds, interrupted seeds' states), each by seed."""
    done = {int(r["seed"]): SeedResult(**r) for r in (blob or {}).get("done", [])}
    return done, {int(p["seed"]): p for p in partial_blobs(blob) if int(p["seed"]) not in done}


def checkpoint_blob(done: dict[int, SeedResult], partials: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """What `checkpoint` receives: every finished seed and every interrupted one, in seed order."""
    return {"done": [asdict(done[s]) for s in sorted(done)], "partials": [partials[s] for s in sorted(partials)]}


def train_seed(config: TrainConfig, ir: GameIR, seed: int, callback: Optional[Callback] = None,
               resume: Optional[dict[str, Any]] = None, checkpoint: Optional[Callable[[dict], None]] = None,
               checkpoint_every: float = 30.0, stop: Optional[Callable[[], bool]] = None) -> SeedResult:
    """One run (the CleanRL loop): `population` learners side by side on one batched
    simulation; the run's answer is the learner whose greedy map is worth most.  `stop()`
    true after an iteration acts as Ctrl-C (how a parallel run stops its workers)."""
    mode = choose_mode(ir, config.mode, config.episodes, config.eval_episodes, max(1, config.population),
                       int(config.reward if config.reward is not None else ir.model.dynamics.reward), config.device,
                       config.memory_budget)
    dev = torch.device(config.device)
    mw = MWConfig.from_ir(ir, config.ties, model=config.follower_model)
    if config.equilibrium is not None:
        mw.rounds = int(config.equilibrium)
    if mode == "sampled" and (not config.episode_map or config.response_prob < 1):
        raise MechUsageError("the ablations episode_map = false and response_prob < 1 run on the exact POMDP "
                             "(payoff tensors), and this run is in sampled mode",
                             hint="train with --mode exact (if it fits), or without the ablation")
    if mode == "sampled":
        from mechdsl.sampled import SampledPOMDP

        pomdp = SampledPOMDP(ir, dev, mw=mw, reward_rounds=config.reward, samples=config.check_samples, seed=seed)
    else:
        pomdp = StackelbergPOMDP(ir, dev, mw=mw, reward_rounds=config.reward)
    head = Head(pomdp)
    if not config.episode_map:  # a batch of fresh maps per rollout round (mechdsl.fresh)
        why = check_fresh(pomdp)
        if why:
            raise MechUsageError(why, hint="train with -O episode_map=true")
        check_training(ir, config.episodes * max(sum(ir.action_counts), pomdp.R), 1, 1, config.device)
    torch.manual_seed(seed)  # only network initialization reads the global generator
    gen = torch.Generator(device=dev).manual_seed(seed)
    mappo = config.algo == "mappo"
    F = pomdp.features.shape[1]
    width = (n_central(pomdp) if config.episode_map else n_central_fresh(pomdp)) if mappo else F
    learners = [Learner(Agent(F, width, pomdp.K, pomdp.m, config.hidden,
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
            # ---- rollout and PPO update of each learner on its own episodes ----
            active = [x for x in learners if not x.done]
            evaluating = steps >= next_eval
            greedy = [head.greedy(x.agent) for x in active] if evaluating else []
            g_maps = [_repeat_map(head.to_map(g), E) for g in greedy]
            it += 1
            ent_coef = config.ent_coef
            if config.ent_iterations:
                ent_coef *= max(0.0, 1.0 - (it - 1) / config.ent_iterations)
            diags, own = [], []  # own[j]: learner j's sampled episodes' (return, worth)
            if config.episode_map:
                samples = [head.sample(x.agent, B, gen) for x in active]
                st = pomdp.run(_cat_maps([head.to_map(smp) for smp in samples] + g_maps), gen)
                ret = st.returns.float()
                soften = max(0.0, 1.0 - (it - 1) / config.soften_ties) if config.soften_ties else 0.0
                exact_worth = pomdp.expected_reward(st)  # the reward phase integrated out
                worth = exact_worth.float()
                target = worth if mappo else ret
                if mappo and soften:
                    target = ((1.0 - soften) * exact_worth + soften * pomdp.spread_reward(st)).float()
                for j, x in enumerate(active):
                    rows = slice(j * B, (j + 1) * B)
                    part = _rows(st, rows)
                    steps += int(part.steps.sum())
                    keep = response_keep(pomdp, part, config.response_prob, gen)
                    diags.append(ppo_update(config, pomdp, head, x, samples[j], part, target[rows], ent_coef, gen, keep))
                    own.append((ret[rows], worth[rows]))
                g_ret, g_worth = ret[len(active) * B:], worth[len(active) * B:]
            else:  # the ablation: every decision drawn afresh (mechdsl.fresh)
                for x in active:
                    fe = run_fresh(pomdp, head, x.agent, B, gen, mappo, config.response_prob)
                    steps += int(fe.steps.sum())
                    diags.append(update(config, head, x, fe.batch, ent_coef, gen))
                    own.append((fe.returns.float(), fe.returns.float()))
                g_ret = pomdp.run(_cat_maps(g_maps), gen).returns.float() if evaluating else None
                g_worth = g_ret  # sampled rewards against sampled rewards
            for x, d in zip(active, diags):  # value loss: mean over the iterations between evaluations
                x.pending_loss.append(d["value_loss"])

            # ---- greedy evaluation: the POMDP's reward phase and the exact value ----
            row = None
            if evaluating:
                next_eval = steps + config.eval_every
                for j, x in enumerate(active):
                    gmap = head.to_map(greedy[j])
                    g_rows = slice(j * E, (j + 1) * E)  # its rows of g_ret, g_worth
                    s_ret, s_worth = own[j]
                    key = _map_key(gmap)
                    ex = exact_cache.get(key) if key is not None else None
                    if ex is None:
                        # sampled mode: the followers' weights of its greedy episodes (no new MW run)
                        eq = {}
                        if mode == "sampled" and config.episode_map:
                            at = len(active) * B + j * E
                            eq = {"logw": tuple(w[at:at + E] for w in st.logw)}
                        ex = pomdp.exact(gmap, **eq)
                        if key is not None:
                            exact_cache[key] = ex
                    # converged: its sampled maps do as well as its greedy map and vary no more
                    gap = float(g_worth[g_rows].mean() - s_worth.mean())
                    spread = float(s_worth.std() - g_worth[g_rows].std()) if E > 1 else 0.0
                    x.value, x.regret = float(ex.value[0]), float(ex.regret[0])
                    losses = [v for v in x.pending_loss if not math.isnan(v)]
                    x.pending_loss = []
                    x.row = {"normalized": float(ex.normalized[0]), "greedy_reward": float(g_ret[g_rows].mean()),
                             "return": float(s_ret.mean()), "policy_gap": gap, "policy_spread": spread, **diags[j],
                             "value_loss": sum(losses) / len(losses) if losses else math.nan}
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
            if interrupted or (stop is not None and stop()):
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

    # the answer: the best greedy map any learner showed at an evaluation, or its final one,
    # ranked exactly wherever one map's exact worth is cheap (in sampled mode too)
    judge = final_judge(pomdp, config, mw)
    finals = []
    for x in learners:
        for gmap in (x.best_map, head.to_map(head.greedy(x.agent))):
            if gmap is not None:
                finals.append((judge.exact(gmap), gmap, x))
    ex, gmap, x = max(finals, key=lambda f: rank(f[0], config.tol))
    gmap, ex, polished = finish_map(judge, gmap, ex, lambda e: rank(e, config.tol), config.polish, seed)
    return SeedResult(
        seed=seed, value=float(ex.value[0]), normalized=float(ex.normalized[0]), regret=float(ex.regret[0]),
        steps=steps, seconds=time.time() - t_start, curve=curve, policy=policy_dict(gmap),
        agent_state={k: v.detach().cpu() for k, v in x.agent.state_dict().items()}, stopped=stopped,
        polish=polished.as_dict(), mode=mode,
    )


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def final_judge(pomdp: StackelbergPOMDP, config: TrainConfig, mw: MWConfig) -> StackelbergPOMDP:
    """What the seed's answer is ranked and polished on: the POMDP itself in exact mode;
    in sampled mode its exact twin when one map's exact worth is cheap
    (`polish.cheap_exact`), since an estimate's noise can rank a worse map first and
    nothing can be polished on it; else the sampled POMDP (estimates)."""
    if type(pomdp) is StackelbergPOMDP or not cheap_exact(pomdp.ir, mw.rounds):
        return pomdp
    return StackelbergPOMDP(pomdp.ir, pomdp.device, mw=mw, reward_rounds=config.reward)


def finish_map(judge: StackelbergPOMDP, gmap: Policy, ex, key, budget: int, seed: int):
    """The step after training, each part kept only where it ranks higher (the pooled map
    also on equal rank: its regret is 0 by construction): a mixture is
    re-solved by LP (`mechdsl.refine`); a pure map is hill-climbed where its exact worth
    is at hand (`mechdsl.polish`), then set against the best map that ignores the
    followers' actions (`mechdsl.pooling`), itself climbed when taken -- so the answer
    is never below the climb from the learned map.  Returns (map, worth, one report)."""
    if gmap.probs is not None:
        return refine(judge, gmap, ex, key, budget)
    exact = type(judge) is StackelbergPOMDP
    gmap, ex, first = polish(judge, gmap, ex, key, budget)  # sampled mode: not run, says why
    done = [first] if first.steps else []
    pmap, pex, pooled = pool(judge, gmap, ex, key, budget, seed)
    if pooled.steps:
        gmap, ex = pmap, pex
        done.append(pooled)
        if exact:
            gmap, ex, again = polish(judge, gmap, ex, key, budget)
            done += [again] if again.steps else []
    if not done:
        return gmap, ex, first if exact else pooled
    last = done[-1]
    return gmap, ex, replace(last, learned=first.learned, steps=sum(r.steps for r in done),
                             evaluated=sum(r.evaluated for r in done), seconds=sum(r.seconds for r in done),
                             moves=[m for r in done for m in r.moves], method=", then ".join(r.method for r in done))


def rank(ex, tol: float) -> tuple[bool, float, float]:
    """How greedy maps compare: a map whose followers' regret is within `tol` of their
    payoff range beats any map whose is not (a high-regret value is no equilibrium's);
    then higher value, then lower regret."""
    frac = float(ex.regret_fraction[0])
    return (frac <= tol, float(ex.value[0]), -frac)


def response_keep(p: StackelbergPOMDP, st: State, prob: float, gen: torch.Generator) -> Optional[torch.Tensor]:
    """[B, S] the decisions that enter the batch under `TrainConfig.response_prob` (None:
    all): those met in a reward sub-episode, and with probability `prob` each of those
    met only in the equilibrium phase."""
    if prob >= 1.0:
        return None
    B = st.batch
    visits = torch.zeros(B, p.T * p.A, dtype=p.dtype, device=p.device)
    cells = st.reward_types * p.A + st.reward_actions
    visits.scatter_add_(1, cells, torch.ones(cells.shape, dtype=p.dtype, device=p.device))
    in_reward, _ = p._reach(st.map, st.payoffs, visits.view(B, p.T, p.A))
    return in_reward | (torch.rand(B, p.S, generator=gen, device=p.device) < prob)


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
