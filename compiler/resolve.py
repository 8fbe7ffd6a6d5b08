"""`Spec` -> `Model`: bind every name, evaluate every constant, check every law.

`resolve` runs `PASSES` in order over one `State`; each pass reads what earlier passes
filled in and adds its own part.  Semantic problems raise `MechSemanticError` at the
span of the construct at fault; a bad `--set` raises `MechUsageError`.

The passes live in `compiler.passes` (grouped by what they resolve, sharing
`compiler.passes.state`); payoff expressions are checked by `compiler.typecheck`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from mechdsl.compiler import model as m
from mechdsl.compiler import spec as s
from mechdsl.compiler.passes.chance import lower_maps, resolve_maps
from mechdsl.compiler.passes.declarations import (
    check_duplicate_names, check_statements, declare_items, evaluate_params, expand_agents,
)
from mechdsl.compiler.passes.outcomes import (
    check_outcomes, declare_outcomes, lower_outcomes, resolve_outcomes,
)
from mechdsl.compiler.passes.moves import resolve_actions, resolve_leader, resolve_rounds
from mechdsl.compiler.passes.payoffs import resolve_objective, resolve_tables, resolve_utilities
from mechdsl.compiler.passes.prior import resolve_joint_priors, resolve_types
from mechdsl.compiler.passes.settings import resolve_dynamics, resolve_training
from mechdsl.compiler.passes.state import State


def resolve(spec: s.Spec, overrides: Optional[dict[str, str]] = None) -> m.Model:
    """Run every pass and assemble the `Model`."""
    state = State(spec=spec, overrides=dict(overrides or {}))
    for step in PASSES:
        step(state)
    return build_model(state)


def build_model(st: State) -> m.Model:
    return m.Model.make(
        name=Path(st.spec.path).stem if st.spec.path else "spec",
        doc=st.spec.doc,
        path=st.spec.path,
        params={k: v for k, v in st.params.items() if isinstance(v, float)},
        items=st.items,
        followers=st.followers,
        prior=st.prior,
        leader=st.leader,
        utilities=st.utilities,
        objective=st.objective,
        objective_name=st.objective_name,
        dynamics=st.dynamics,
        training=st.training,
    )


PASSES = (
    check_statements,
    evaluate_params,
    declare_items,
    expand_agents,
    check_duplicate_names,
    resolve_types,
    resolve_joint_priors,
    resolve_actions,
    resolve_leader,
    resolve_rounds,
    resolve_maps,
    declare_outcomes,
    resolve_tables,
    resolve_outcomes,
    resolve_utilities,
    resolve_objective,
    lower_outcomes,
    lower_maps,
    check_outcomes,
    resolve_dynamics,
    resolve_training,
)
