"""The bridge to OpenSpiel (optional extra ``openspiel``): the game as a `pyspiel.Game`,
so OpenSpiel's algorithms (best responses, NashConv, CFR, ...) run on it.

`load_game(ir, policy)` is the followers' induced game under a fixed leader policy (the
followers are OpenSpiel's players 0..n-1, a chance node draws the type profile); with
``policy=None``, the Stackelberg game over the leader's pure policies (player 0 is the
leader and commits first).  Both are the .efg of `mechdsl.compiler.gambit`, read by
OpenSpiel's own EFG loader (`pyspiel.load_efg_game`), so the two exports cannot drift
apart.  Information state strings read "<player>-<player>-<set number>-<set label>",
the label being "<follower> [<own type>]" as in the .efg.

>>> import mechdsl, mechdsl.openspiel                                     # doctest: +SKIP
>>> ir = mechdsl.compile(mechdsl.load("specs/paper/spm_messages.mech"))   # doctest: +SKIP
>>> game = mechdsl.openspiel.load_game(ir, "best.json")   # from `mechdsl solve --json`  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.strategic import LeaderPolicy

PolicyLike = Union[None, str, LeaderPolicy, Sequence[int]]


def leader_policy(ir: GameIR, policy: PolicyLike) -> Optional[LeaderPolicy]:
    """A path (anything `compile --policy` reads), a `LeaderPolicy`, or an action index
    per information set, as a checked `LeaderPolicy` (None stays None)."""
    if policy is None or isinstance(policy, LeaderPolicy):
        return policy
    from mechdsl.policy_file import checked, read_policy

    if isinstance(policy, str):
        return read_policy(policy, ir)
    return checked(ir, [int(k) for k in policy], None, "actions given in Python")


def load_game(ir: GameIR, policy: PolicyLike = None):
    """The game as a `pyspiel.Game` (see the module docstring for which game)."""
    try:
        import pyspiel
    except ImportError:
        raise MechUsageError("OpenSpiel is not installed",
                             hint="pip install 'mechdsl[openspiel]' (or: pip install open_spiel)") from None
    from mechdsl.compiler.gambit import export

    return pyspiel.load_efg_game(export(ir, "efg", leader_policy(ir, policy)))
