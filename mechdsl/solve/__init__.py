"""Exact solver for small mechanisms: the leader's optimal policy against followers
who learn by multiplicative weights (`mw`) or who play the leader-favourable pure
Bayes-Nash equilibrium (`favourable`).

How it works
------------
A pure leader policy is one action per information set.  Information sets belong to
observation classes (what the leader saw of the followers' actions, `ir.obs_class`),
and a class's payoffs -- U and V restricted to the action profiles of that class --
depend only on the policy's actions inside that class.  So:

1. per class, enumerate the sub-policies over the information sets reachable from the
   class's root (every legal action, every response of the visited agent); the
   others keep their first legal action;
2. evaluate all of them in batches (`mechdsl.evaluate`) and merge sub-policies whose
   payoff slices are identical: they are the same mechanism for everybody;
3. a full policy is one distinct sub-policy per class; its U and V are assembled from
   the slices without simulating again.

`mw`: every product of distinct sub-policies is run through the deterministic expected
MW dynamics (batched; the same update as `mechdsl.dynamics.expected_mw`), the
followers then play the argmax of their weights, and the best leader value wins (ties:
lower regret, then the first in enumeration order).  A policy is skipped only when a
sound upper bound on its value -- the best pure follower profile that avoids actions
which lose to another action by a margin in every round of MW (so they can never be
the argmax) -- is below the best value already found.  The winner is re-checked with
the reference `expected_mw` / `regret` / `leader_value`.  Past `limit` policies the
product is never listed: branch and bound over the classes (`branch.py`) bounds every
completion of a partial policy by its best follower profile, starts from an exact
coordinate ascent, searches one policy per orbit of the game's relabellings
(`symmetry.py`: interchangeable messages, identical agents, checked on the tables), and
stops at `limit` nodes + policies run with the best value found and a proven bound.

`favourable`: per pure follower strategy profile, a MILP (scipy's HiGHS) picks one
distinct sub-policy per class (binary variables) to maximize the leader's value
subject to that profile having zero regret; the best profile wins.

Mixed choose sets (`choose ... mixed`): the multiple-LP method (Conitzer & Sandholm
2006) over the class-wise mixtures, per pure follower profile; when rounds follow the
mixed choice, binary variables pick one round sub-policy per choice.  Under the
`favourable` follower model the best LP value is attained; with one follower (any number
of types) and no pure choice below the mixed one, one MILP replaces the per-profile LPs
(DOBSS, `mechdsl/solve/dobss.py`).  Under `mw` the tie reading
decides which tied deviations leave the profile played (`favourable`: all; `pessimistic`:
those no worse for the leader; `first`: those to higher-index actions); the others must
be approached strictly.  The answer is *attained* when some optimal mixture leaves tied
only deviations the reading settles in the profile's favour; otherwise it is a supremum
(`exact = False`), returned with a policy moved slightly into the interior and that
policy's actual value under MW (`mechdsl/solve/profile_lp.py`).
"""
from mechdsl.solve.answer import Solution
from mechdsl.solve.render import describe
from mechdsl.solve.solver import DEFAULT_LIMIT, FOLLOWER_MODELS, solve

__all__ = ["solve", "Solution", "describe", "DEFAULT_LIMIT", "FOLLOWER_MODELS"]
