"""Models built by hand (no parser): used by back-end tests independent of the front end."""
from mechdsl.compiler.model import *
def alloc_model(M=3):
    f = Follower(name="buyer", fields=[TypeField(name="interest", kind="item")], type_labels=["interest=a","interest=b","interest=c"],
        type_values={"interest":[0,1,2]}, action_name="message", action_labels=[str(k) for k in range(M)], action_values=[float(k) for k in range(M)])
    give = ChoiceRef(name="give")
    match = Binary(op="==", left=give, right=TypeRef(agent=Const(value=0), field="interest"))
    return Model(name="alloc", items=[Item(name=x) for x in "abc"], followers=[f], prior=[1/3]*3,
        leader=Leader(observe=[0], choices=[Choice(name="give", kind="item", labels=list("abc"), values=[None]*3)]),
        utilities=[match], objective=match, dynamics=Dynamics(equilibrium=1000, reward=100))
def spm_model(M=2, eps=0.2):
    f1 = Follower(name="a1", fields=[TypeField(name="value", kind="scalar")], type_labels=["value=0.5","value=2.5"], type_values={"value":[0.5, 1/(2*eps)]},
        action_name="message", action_labels=[str(k) for k in range(M)], action_values=[float(k) for k in range(M)])
    f2 = Follower(name="a2", fields=[TypeField(name="value", kind="scalar")], type_labels=["value=0","value=1"], type_values={"value":[0.0,1.0]},
        action_name="message", action_labels=[str(k) for k in range(M)], action_values=[float(k) for k in range(M)])
    prior = [p1*p2 for p1 in (1-eps, eps) for p2 in (0.5,0.5)]
    u = lambda i: Binary(op="-", left=Outcome(what="worth", agent=Const(value=i)), right=Outcome(what="paid", agent=Const(value=i)))
    welfare = Aggregate(func="sum", var="i", domain="agents", body=Outcome(what="worth", agent=Var(name="i")))
    vals = sorted({0, 0.5, 1, 1/(2*eps)})
    grid = [0] + [(a+b)/2 for a,b in zip(vals, vals[1:])]
    return Model(name="spm", items=[Item(name="good")], followers=[f1,f2], prior=prior,
        leader=Leader(observe=[0,1], rounds=Rounds(price_kind="grid", grid=grid)), utilities=[u(0),u(1)], objective=welfare,
        dynamics=Dynamics(equilibrium=1000, reward=100))


def table_model(table, mixed=False):
    """A normal-form game: the leader picks a row, one follower picks a column.
    `table[r][c] = (leader, follower)`."""
    rows = [chr(65 + r) for r in range(len(table))]
    cols = [chr(65 + c) for c in range(len(table[0]))]
    f = Follower(name="follower", fields=[], type_labels=["-"], type_values={}, action_name="col",
                 action_labels=cols, action_values=[None] * len(cols))
    ref = lambda comp: Table(name="game", values=[[list(cell) for cell in row] for row in table],
                             index=[ChoiceRef(name="row"), ActionRef(agent=Const(value=0)), Const(value=comp)])
    return Model(name="nf", followers=[f], prior=[1.0],
                 leader=Leader(choices=[Choice(name="row", kind="label", labels=rows, values=[None] * len(rows), mixed=mixed)]),
                 utilities=[ref(1)], objective=ref(0), dynamics=Dynamics(equilibrium=100, reward=10))


MAINTAIN = [[(20, 15), (0, 0), (0, 0)], [(30, 0), (10, 5), (0, 0)], [(0, 0), (0, 0), (5, 10)]]
ESCAPE = [[(15, 15), (10, 10), (0, 0)], [(10, 10), (10, 10), (0, 0)], [(0, 0), (0, 0), (30, 30)]]
