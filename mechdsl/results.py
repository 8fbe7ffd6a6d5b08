"""The JSON that `solve --json`, `train --json` and `eval --json` print: one shape for the
three (documented in docs/results.md, checked against docs/results.schema.json), numbers
cleaned of float noise, exact fractions beside the values that are rational.

Numbers are cleaned, never rounded: a value within `NOISE` of a number with at most six
decimals prints as that number (`-4.44e-16` -> `0`, `1.1000000000000003` -> `1.1`), any
other value is left as it is.

>>> clean(-4.440892098500626e-16), clean(1.1000000000000003), clean(1 / 3) == 1 / 3
(0.0, 1.1, True)
>>> fraction(17 / 9), fraction(2.0), fraction(2 ** 0.5)
('17/9', '2', None)
"""
from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any, Optional

SCHEMA = "mechdsl.result/1"
NOISE = 1e-9  # a value this close to a short decimal is that decimal
MAX_DENOMINATOR = 10_000
FRACTION_TOL = 1e-11  # relative: a fraction must reproduce the value this closely to be shown
EXACT_FIELDS = ("value", "policy_value", "optimum", "bound", "gap")  # each gets a `<field>_exact` beside it


def clean(x: float) -> float:
    """`x` without float noise: the shortest decimal (at most 6 places) within `NOISE`."""
    if not isinstance(x, float) or not math.isfinite(x):
        return x
    for places in range(7):
        r = round(x, places)
        if abs(x - r) <= NOISE * max(1.0, abs(x)):
            return r + 0.0  # -0.0 -> 0.0
    return x


def fraction(x: Optional[float]) -> Optional[str]:
    """`x` as "p/q" (q <= 10,000) when that fraction reproduces it within `FRACTION_TOL`,
    else None.  A hint that the value is rational, not a proof: the solver works in floats."""
    if x is None or isinstance(x, bool) or not math.isfinite(float(x)):
        return None
    f = Fraction(float(x)).limit_denominator(MAX_DENOMINATOR)
    if abs(float(f) - float(x)) > FRACTION_TOL * max(1.0, abs(float(x))):
        return None
    return str(f)


def number_text(x: Optional[float], exact: bool = False, digits: int = 6) -> str:
    """A value for text output: its fraction when `exact` and it has one, else `digits`
    significant digits of the cleaned value."""
    if x is None:
        return "n/a"
    if exact:
        frac = fraction(x)
        if frac is not None:
            return frac
    return f"{clean(float(x)):.{digits}g}"


def cleaned(obj: Any) -> Any:
    """`obj` (plain JSON data) with every float cleaned."""
    if isinstance(obj, float):
        return clean(obj)
    if isinstance(obj, dict):
        return {k: cleaned(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [cleaned(v) for v in obj]
    return obj


def distribution_exact(dist: dict[str, float]) -> Optional[dict[str, str]]:
    """A policy entry's probabilities as fractions, when every one of them is one."""
    out = {k: fraction(p) for k, p in dist.items()}
    return None if any(v is None for v in out.values()) else out


def finish(data: dict[str, Any], command: str) -> dict[str, Any]:
    """The documented result: `schema` and `command` first, `<field>_exact` beside the
    headline values, every float cleaned."""
    out: dict[str, Any] = {"schema": SCHEMA, "command": command}
    data = {**{k: data[k] for k in COMMON if k in data}, **data}
    for key, val in data.items():
        out[key] = val
        if key in EXACT_FIELDS:
            out[f"{key}_exact"] = fraction(val)
    return cleaned(out)


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1)


# the order the fields of every result start with (docs/results.md); the rest follow
COMMON = ("spec", "name", "sets", "objective", "follower_model", "ties", "value", "policy",
          "follower_strategies", "regret", "max_regret", "certificate", "warnings", "seconds")


def solve_result(solution: dict[str, Any], spec: str, sets: dict[str, str]) -> dict[str, Any]:
    """`solve --json`: the solver's `Solution` (as JSON data) in the documented shape."""
    data = dict(solution)
    data["name"], data["spec"], data["sets"] = data.get("spec"), spec, sets
    regrets = [v for per in data.get("regret", {}).values() for v in per.values()]
    data["max_regret"] = max(regrets, default=0.0)
    cert = data.get("certificate") or {}
    data["warnings"] = list(cert.get("warnings", []))
    return finish(data, "solve")
