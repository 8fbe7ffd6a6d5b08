"""The `dynamics` block (over the paper's defaults) and the `training` block (defaults for
`mechdsl train`)."""
from __future__ import annotations

import math

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.consts import did_you_mean, evaluate, fmt, number, whole
from mechdsl.compiler.limits import MAX_SUB_EPISODES, too_big
from mechdsl.compiler.model import FOLLOWER_MODELS, TIE_READINGS
from mechdsl.compiler.passes.state import DYNAMICS_KEYS, State, error, line_of


def resolve_dynamics(st: State) -> None:
    """Paper defaults (T=1000,R=100 with private types, else T=100,R=10), then the block."""
    bayesian = any(len(f.type_labels) > 1 for f in st.followers)
    values: dict = {"equilibrium": 1000 if bayesian else 100, "reward": 100 if bayesian else 10}
    for decl in st.statements(s.DynamicsDecl):
        for setting in _settings(decl, DYNAMICS_KEYS):
            key, expr, env = setting.name.name, setting.value, st.env()
            if key == "step":
                value = number(expr, env, "a step size")
                if not value > 0 or not math.isfinite(value):
                    raise error(f"step must be a positive number, got {fmt(value)}", expr,
                                hint="the paper uses step = 0.1")
            elif key == "ties":
                value = _word(expr, "ties", TIE_READINGS, "ties = pessimistic")
            elif key == "model":
                value = _word(expr, "model", FOLLOWER_MODELS, "model = swap")
            elif key in ("learning_rate", "epsilon"):
                value = number(expr, env, f"a {key.replace('_', ' ')}")
                ok = 0 < value <= 1 if key == "learning_rate" else 0 <= value <= 1
                if not ok or not math.isfinite(value):
                    raise error(f"{key} must be in {'(0, 1]' if key == 'learning_rate' else '[0, 1]'}, got {fmt(value)}",
                                expr, hint=f"the default is {key} = 0.1")
            elif key == "normalize":
                value = evaluate(expr, env)
                if not isinstance(value, bool):
                    raise error(f"normalize is true or false, got {fmt(value)}", expr,
                                hint="write normalize = true or normalize = false")
            else:
                value = whole(expr, env, f"a whole number of {key} sub-episodes")
                if value < 1:
                    raise error(f"{key} must be at least 1, got {value}", expr,
                                hint="the paper uses equilibrium = 1000, reward = 100")
                if value > MAX_SUB_EPISODES:
                    raise too_big(f"too many {key} sub-episodes", value, MAX_SUB_EPISODES, expr,
                                  "every leader policy runs the dynamics this many times; "
                                  "the paper uses equilibrium = 1000, reward = 100")
            values[key] = value
    floats = ("step", "learning_rate", "epsilon")
    st.dynamics = m.Dynamics.make(**{k: float(v) if k in floats else v for k, v in values.items()})


def resolve_training(st: State) -> None:
    """Defaults for `mechdsl train`: numbers (whole ones as int), bools and strings."""
    for decl in st.statements(s.TrainingDecl):
        for setting in _settings(decl, None):
            value = evaluate(setting.value, st.env())
            if isinstance(value, (list, tuple)):
                raise error("a training setting is a number, true/false or a \"string\"", setting.value,
                            hint="write e.g. steps = 200000 or algo = \"mappo\"")
            if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**53:
                value = int(value)
            st.training[setting.name.name] = value


def _word(expr, key: str, words: tuple[str, ...], example: str) -> str:
    """`ties = pessimistic`, `model = swap`: a bare word, or a "string", from `words`."""
    word = expr.name if isinstance(expr, s.Name) else expr.value if isinstance(expr, s.StrLit) else None
    if word not in words:
        shown = word if word is not None else "an expression"
        raise error(f"{key} is one of {', '.join(words)}, got {shown}", expr,
                    hint=did_you_mean(word, words, f"write e.g. {example}") if word else f"write e.g. {example}")
    return word


def _settings(decl, allowed) -> list[s.Setting]:
    seen: dict[str, s.Setting] = {}
    for setting in decl.settings:
        key = setting.name.name
        if allowed is not None and key not in allowed:
            raise error(f"unknown setting '{key}'", setting.name,
                        hint=did_you_mean(key, allowed) or f"settings are: {', '.join(allowed)}")
        if key in seen:
            raise error(f"'{key}' is set twice", setting.name, hint=f"first set at line {line_of(seen[key])}")
        seen[key] = setting
    return list(seen.values())
