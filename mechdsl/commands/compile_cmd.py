"""`mechdsl compile` and `mechdsl check`."""
from __future__ import annotations

from typing import Optional

import click

from mechdsl.options import Count, load_ir, output_option, spec_argument, write_or_echo


@click.command("compile")
@spec_argument
@click.option("--format", "fmt", type=click.Choice(["summary", "json", "dot", "nfg", "efg"]), default="summary",
              show_default=True, help="nfg/efg: Gambit's strategic / extensive form (see README, Exports).")
@output_option
@click.option("--policy", "policy_path", type=click.Path(exists=True), default=None, metavar="FILE",
              help="Fix the leader's policy (JSON of `solve --json`, a run directory or its policy.pt): nfg/efg "
              "export the followers' induced game, dot marks the policy's moves.")
@click.option("--depth", type=Count(), default=None, metavar="N",
              help="dot: levels of the tree drawn below the root (deeper parts fold into one node); "
              "0 draws everything.  Default: as deep as about 120 nodes allow.")
def compile_command(spec: str, sets: tuple[str, ...], fmt: str, output: Optional[str], policy_path: Optional[str],
                    depth: Optional[int]) -> None:
    """Compile SPEC into the game-tree IR and show it, draw it, or export it for Gambit.

    \b
    Examples:
      mechdsl compile specs/paper/spm_messages.mech
      mechdsl compile specs/paper/allocation.mech --set messages=2 --format json -o alloc.json
      mechdsl compile specs/paper/maintain.mech --format dot | dot -Tpng > maintain.png
      mechdsl compile specs/paper/maintain.mech --format nfg -o maintain.nfg
      mechdsl solve specs/paper/spm_messages.mech --json > best.json
      mechdsl compile specs/paper/spm_messages.mech --format efg --policy best.json -o followers.efg
    """
    ir = load_ir(spec, sets)
    from mechdsl.compiler.errors import MechError

    try:
        text, note = _render(ir, fmt, policy_path, depth)
    except MechError as err:  # raised past the compiler: name the spec it points into
        raise err.located(spec, None)
    write_or_echo(text, output)
    if note:
        click.echo(note, err=True)


def _render(ir, fmt: str, policy_path: Optional[str], depth: Optional[int]) -> tuple[str, str]:
    """The text `compile` shows for `fmt`, and a note for stderr (what a drawing folded)."""
    from mechdsl.compiler.errors import MechUsageError

    if policy_path is not None and fmt not in ("dot", "nfg", "efg"):
        raise MechUsageError("--policy applies to --format nfg, efg or dot", hint="add --format nfg, efg or dot")
    if depth is not None and fmt != "dot":
        raise MechUsageError("--depth applies to --format dot", hint="add --format dot")
    policy = None
    if policy_path is not None:
        from mechdsl.policy_file import read_policy

        policy = read_policy(policy_path, ir)
    if fmt == "json":
        text = ir.to_json(indent=1)
    elif fmt == "dot":
        from mechdsl.compiler.picture import draw

        return draw(ir, depth=depth, policy=policy)
    elif fmt in ("nfg", "efg"):
        from mechdsl.compiler.gambit import export

        text = export(ir, fmt, policy).rstrip("\n")
    else:
        from mechdsl.compiler.summary import summary

        text = summary(ir)
    return text, ""


@click.command("check")
@spec_argument
def check_command(spec: str, sets: tuple[str, ...]) -> None:
    """Validate SPEC (syntax, names, probabilities, types) without printing the IR.

    \b
    Example:
      mechdsl check specs/examples/posted_price.mech && echo ok
    """
    from mechdsl.compiler.summary import plural

    ir = load_ir(spec, sets)
    chance = ", a chance state" if ir.model.chance is not None else ""
    click.echo(f"{spec}: ok ({plural(len(ir.model.people), 'follower')}{chance}, "
               f"{plural(ir.n_infosets, 'leader information set')})")
