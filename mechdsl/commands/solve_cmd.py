"""`mechdsl solve`: the leader's exact optimal policy for a small spec."""
from __future__ import annotations

import click

from mechdsl.options import (Count, Seconds, exact_option, follower_model_option, json_option, load_ir, output_option, parse_sets, spec_argument,
                             ties_option, write_or_echo)


@click.command("solve")
@spec_argument
@follower_model_option
@click.option(
    "--limit",
    type=Count(minimum=1),
    default="1e6",
    show_default=True,
    metavar="N",
    help="Most leader policies to enumerate (after merging equivalent ones); beyond, pure policies under mw "
         "go to branch and bound with N as its budget (nodes + policies run), others stop with exit status 2.",
)
@click.option(
    "--seconds", type=Seconds(), default=0, show_default=True, metavar="S",
    help="Wall-clock budget (0: none).  Branch and bound then answers as when --limit runs out (the best "
         "found and a proven bound); other stages stop with exit status 2.",
)
@ties_option
@json_option
@exact_option
@output_option
def solve_command(spec: str, sets: tuple[str, ...], follower_model, limit: int, seconds: float, ties, as_json: bool,
                  exact: bool, output) -> None:
    """Solve SPEC exactly: the leader policy that maximizes the objective, the
    followers' strategies it induces, and their regret.

    Every pure leader policy is enumerated (merging sub-policies with identical
    payoffs, skipping ones a sound bound rules out); past --limit policies, MW
    followers' pure policies are searched by branch and bound over the observation
    classes (symmetric relabellings skipped), which reports the optimum or, when
    --limit runs out, the best policy found and a proven bound on the optimum.  Mixed
    choices are solved by one linear program per follower strategy profile.  A spec
    too large for these stops with a message saying how large it is.

    \b
    Examples:
      mechdsl solve specs/paper/spm_messages.mech
      mechdsl solve specs/paper/allocation.mech --set messages=2 --json -o alloc.json
      mechdsl solve specs/examples/auction_revenue.mech --exact
      mechdsl solve specs/paper/maintain_mixed.mech --follower-model favourable
      mechdsl solve specs/examples/ce_vs_cce.mech --follower-model swap
    """
    from mechdsl.compiler.errors import MechError
    from mechdsl.results import dumps, solve_result
    from mechdsl.solve import describe, solve
    from mechdsl.solve.space import fmt_count

    ir = load_ir(spec, sets)
    try:
        sol = solve(ir, follower_model=follower_model, limit=limit, ties=ties, seconds=seconds)
    except MechError as err:
        raise err.located(spec, None)
    if as_json:
        write_or_echo(dumps(solve_result(sol.model_dump(mode="json"), spec, parse_sets(sets))), output)
        return
    merged = " x ".join(str(c) for c in sol.distinct_subpolicies)
    stats = f"{fmt_count(sol.policies_total)} leader policies ({merged} distinct per class)"
    if sol.policies_enumerated:
        stats += f", {sol.policies_enumerated} run through " + ("MW" if sol.follower_model == "mw" else
                                                               f"the {sol.follower_model} response")
    if sol.nodes_explored:
        stats += f", branch and bound opened {sol.nodes_explored} partial policies"
        if sol.symmetries:
            stats += f", {sol.symmetries} symmetries"
    if sol.profiles_solved:
        stats += f", {sol.profiles_solved} follower profiles solved"
    write_or_echo(f"{describe(ir, sol, exact)}\n\n{stats}; {sol.seconds:.2f}s", output)
