"""Training settings: `TrainConfig` (every knob a run depends on, documented field by
field) and `config_for` (defaults, then the spec's `training` block, then overrides).
Apart from the trainer so the CLI can read and check settings without importing torch."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.model import FOLLOWER_MODELS, TIE_READINGS
from mechdsl.memory import MODES, parse_bytes

ALGOS = ("mappo", "ppo")
DEVICES = ("cpu", "cuda")
# allowed [low, high] per numeric setting (None: the field may also be None); beyond these a
# run is meaningless or would not finish (e.g. 1e9 equilibrium sub-episodes per episode)
LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, 1e15), "seeds": (1, 10_000), "seed": (0, 2**31 - 1), "lr": (1e-12, 10.0),
    "episodes": (1, 1_000_000), "epochs": (1, 1_000), "minibatches": (1, 100_000), "clip": (1e-6, 10.0),
    "target_kl": (1e-12, 1e6), "ent_coef": (0.0, 1e3), "ent_iterations": (0, 10**12), "critic_lr": (1e-12, 10.0),
    "critic_epochs": (0, 1_000), "critic_minibatch": (1, 10**9), "max_grad_norm": (1e-9, 1e9), "hidden": (1, 8_192),
    "init_log_std": (-20.0, 5.0), "population": (1, 256), "eval_every": (0, 1e15), "eval_episodes": (1, 1_000_000),
    "patience": (1, 10**9), "stall": (1, 10**9), "tol": (1e-12, 1.0), "min_delta": (0.0, 1.0),
    "target": (-1e300, 1e300), "max_seconds": (0.0, 1e9), "equilibrium": (0, 1_000_000), "reward": (1, 1_000_000),
    "threads": (1, 1_024), "soften_ties": (0, 10**9), "response_prob": (0.0, 1.0), "polish": (0, 10**9),
    "memory_budget": (0.0, 1e15), "check_samples": (1, 10**8),
}


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
    init_log_std: float = 0.0
    """Initial log standard deviation of the Gaussian heads (mixed-row weights as logits,
    interval prices as logits of their position in [low, high]).  0 (std 1) explores past
    the valleys a narrower start stops at: a price a fifth of the interval from its
    middle (pessimistic ties need prices strictly below a value: spm_messages_interval
    settled at 0.9 with -1), a pure row on the far side of a worse mixture (a 3x3
    conformance game settled at 5 of 6 with -1)."""
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
    soften_ties: int = 30
    """Iterations over which the MAPPO target blends in the value of exactly tied followers
    mixing uniformly over their tied actions, its weight falling linearly from 1 to 0
    (0: off).  Under pessimistic ties a cell of a map changed alone is read against the
    leader (indifferent followers avoid it), so a better map that differs in several
    cells is never seen to pay; the blend lets the cells pay off one at a time early on
    (a conformance direct mechanism reaches 1.8, not 1.45).  Evaluations, the greedy
    answer and its certificate always use `ties` alone."""
    episode_map: bool = True
    """Hold the leader's observation-action map fixed for the whole POMDP episode (paper
    Section 7; the paper's code's `fix_episode_actions`).  false is the paper's ablation:
    every leader decision is drawn afresh from the actor each time an information set is
    met, in every rollout of every sub-episode, so the followers learn from noisy payoffs
    and an episode has one decision per environment step (slow: for small specs).
    Returns are then the sampled rewards still to come, for MAPPO too, whose critic sees
    the phase, the progress through it, the followers' current strategies and types."""
    response_prob: float = 1.0
    """Probability that a leader decision of the equilibrium (response) phase enters the
    learner's batch (the paper's code's `response_phase_prob`).  1: the Stackelberg POMDP.
    0: the paper's "basic POMDP" -- the leader learns only from decisions of its reward
    sub-episodes, never from one met only while the followers equilibrate (a message
    nobody sends in the end, an agent visited only after a deviation).  With the map held
    fixed a decision met only in the equilibrium phase enters with this probability once
    per episode (its repeated encounters are one decision); without it, each encounter
    is a decision and enters with this probability."""
    polish: int = 20_000
    """Budget, in maps evaluated exactly, of the hill climb that ends each seed
    (mechdsl/polish.py): moves that rewrite one observation class, then two, on the
    exact objective, certified maps first (0: off).  It reaches optima that the sampled
    dynamics hide (a follower exactly indifferent at its final play; docs/solutions.md)
    or that differ in two classes at once; the summary shows the learned value beside
    the polished one.  A map with mixed rows is instead re-solved by linear programs for
    the followers' learned responses and their one-type neighbours (mechdsl/refine.py;
    the budget then counts follower profiles).  After the climb a pure map is set against
    the best map that ignores the followers' actions, where those are cheap talk
    (mechdsl/pooling.py: regret 0 by construction; the budget counts candidate maps),
    climbed in turn when taken; in sampled mode, where no exact worth is at hand, that
    is the only step."""
    ties: Optional[str] = None
    """How exact ties in the followers' final weights are read (`pessimistic`, `first`,
    `favourable`; see mechdsl.ties); None: the spec's `dynamics` block, else pessimistic."""
    follower_model: Optional[str] = None
    """How the followers respond (`mw`, `swap`, `qlearning`, `favourable`, `pessimistic`;
    docs/followers.md); None: the spec's `dynamics { model = ... }`, else mw."""
    device: str = "cpu"
    """`cpu` or `cuda`."""
    threads: int = 1
    """torch intra-op threads (these tensors are small: 1 is fastest on a busy CPU)."""
    mode: str = "auto"
    """`exact`: payoff tensors over every type x action profile (mechdsl.pomdp); `sampled`:
    Algorithm 2 on sampled profiles only (mechdsl.sampled), values and regret estimated;
    `auto`: exact when its tensors fit `memory_budget`, else sampled."""
    memory_budget: float = 0.0
    """Bytes a run may use (0: 80% of the memory available at the start)."""
    check_samples: int = 4000
    """Sampled mode: type profiles each greedy map's value and regret are estimated on."""

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
        names = set(self.names())
        for key, val in values.items():
            if key not in names:
                raise KeyError(key)
            setattr(out, key, _checked(key, val, getattr(self, key)))
        if out.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {out.algo!r}")
        if out.ties is not None and out.ties not in TIE_READINGS:
            raise ValueError(f"ties must be one of {', '.join(TIE_READINGS)}, got {out.ties!r}")
        if out.follower_model is not None and out.follower_model not in FOLLOWER_MODELS:
            raise ValueError(f"follower_model must be one of {', '.join(FOLLOWER_MODELS)}, got {out.follower_model!r}")
        if out.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {out.mode!r}")
        if out.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {out.device!r}")
        return out


def _checked(key: str, val: Any, cur: Any) -> Any:
    """`val` (text or number) as the field's type, finite and within `LIMITS`."""
    if val is None or (isinstance(val, str) and val.strip().lower() in ("none", "null")):
        if key not in _OPTIONAL:
            raise ValueError(f"{key} cannot be none")
        return None
    if key in _TEXT:
        return str(val).strip()
    if isinstance(cur, bool):
        return _flag(key, val)
    if key == "memory_budget" and isinstance(val, str):  # '4GB', '512MB', or bytes
        try:
            val = parse_bytes(val)
        except ValueError:
            raise ValueError(f"{key} expects a size such as 4GB, got {val!r}") from None
    if isinstance(val, str) and not isinstance(cur, str):
        text = val.strip().lower()
        try:
            val = float(text)
        except ValueError:
            raise ValueError(f"{key} expects a number, got {val!r}") from None
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise ValueError(f"{key} expects a number, got {val!r}")
    if not math.isfinite(val):
        raise ValueError(f"{key} must be a finite number, got {val!r}")
    lo, hi = LIMITS.get(key, (-math.inf, math.inf))
    if not lo <= val <= hi:
        raise ValueError(f"{key} must be between {lo:g} and {hi:g}, got {val:g}")
    if key in _INTEGRAL:
        if float(val) != int(val):
            raise ValueError(f"{key} expects a whole number, got {val:g}")
        return int(val)
    return float(val)


def _flag(key: str, val: Any) -> bool:
    """true/false (also 1/0, yes/no, on/off) as a bool; anything else is an error."""
    if isinstance(val, bool):
        return val
    text = str(val).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{key} expects true or false, got {val!r}")


_TEXT = {"algo", "device", "ties", "follower_model", "mode"}
_OPTIONAL = {"target_kl", "target", "equilibrium", "reward", "ties", "follower_model"}
_INTEGRAL = {"steps", "seeds", "seed", "episodes", "epochs", "minibatches", "ent_iterations", "critic_epochs",
             "critic_minibatch", "hidden", "population", "eval_every", "eval_episodes", "patience", "stall",
             "equilibrium", "reward", "threads", "soften_ties", "polish", "check_samples"}


def config_for(ir: GameIR, overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Defaults, then the spec's `training` block, then `overrides` (the CLI)."""
    from mechdsl.compiler.consts import did_you_mean
    from mechdsl.compiler.errors import MechUsageError

    spec = dict(ir.model.training or {})
    for key in spec:
        if key not in TrainConfig.names():
            close = did_you_mean(key, TrainConfig.names())
            raise MechUsageError(f"the spec's `training` block sets {key!r}, which is not a training setting"
                                 + (f"; {close}" if close else ""), path=ir.model.path or "",
                                 hint="one of: " + ", ".join(TrainConfig.names()))
    try:
        cfg = TrainConfig().updated(spec)
    except ValueError as e:
        raise MechUsageError(f"bad setting in the spec's `training` block: {e}", path=ir.model.path or "",
                             hint="fix the value in the spec's training { ... } block") from None
    try:
        return cfg.updated(overrides or {})
    except (KeyError, ValueError) as e:
        raise MechUsageError(f"bad training option: {e}", hint="see `mechdsl train --help`") from None
