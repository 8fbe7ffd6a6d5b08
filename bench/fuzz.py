"""Fuzz the compiler: mutate every shipped spec and sort what `check` and `compile` do.

    python bench/fuzz.py                              # 10,000 mutants, one worker
    python bench/fuzz.py --mutants 500 --seed 7 --workers 2 --out /tmp/fuzz

Each mutant is a shipped spec (specs/**/*.mech, tests/fixtures/features.mech) with one
to three seeded mutations: token edits (delete, duplicate, swap, insert, rename),
extreme numbers (0, -1, 1e309, 1e-320, nan, 1e9, huge integers), deep nesting, long
sums, line separators and control characters, huge ranges, many agents, params or
items, big docstrings, bytes that are not UTF-8, random `--set` overrides, and plausible
numbers, lists and overrides so that many mutants still compile and reach the IR.  A worker
process (address space capped at 4 GiB, 20 s alarm per mutant) runs `mechdsl check` and,
when that passes, `mechdsl compile` in-process through click's CliRunner.  Outcomes:

    ok            exit 0, and the summary shows no nan or inf
    positioned    exit 2 with `file:line:col: error:` and a hint
    no-hint       a positioned error without a hint
    unpositioned  exit 2 without a position
    nonfinite     exit 0, but the summary shows nan or inf
    traceback     any other exception
    hang          still running after 20 s
    oom           MemoryError, or the worker was killed

Mutants are a function of (seed, index) alone, so a run is reproducible whatever the
number of workers.  The first few mutants of every bad outcome are saved under --out
(the .mech file, its --set values and what the command printed).
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import random
import re
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEMORY_LIMIT = 4 << 30  # bytes of address space per worker
ALARM_S = 20  # seconds per mutant (check and compile together)
GOOD = ("ok", "positioned")
BAD = ("no-hint", "unpositioned", "nonfinite", "traceback", "hang", "oom")
LOCATED = re.compile(r"^\S.*?:\d+:\d+: error: ", re.M)
NONFINITE = re.compile(r"(?<![\w.])-?(inf|nan)(?![\w])")

# ---------------------------------------------------------------------------
# the mutator
# ---------------------------------------------------------------------------

TOKEN = re.compile(
    r'(?P<doc>"""[\s\S]*?""")|(?P<comment>#[^\n]*)|(?P<str>"[^"\n]*")'
    r"|(?P<num>(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|(?P<op>==|!=|<=|>=|[-+*/^<>=(){}\[\],.:~])|(?P<ws>\s+)|(?P<other>.)"
)
KEYWORDS = (
    "param item items units agent agents type action in uniform joint leader observe choose mixed rounds visit "
    "remaining price each interval allocation valuation unit additive of ties buy pass table utility objective "
    "dynamics training if then else and or not true false self range linspace support midpoints sum max min abs "
    "paid worth len sorted unique welfare revenue"
).split()
PUNCTUATION = list("(){}[],.:~=+-*/^<>") + ["==", "!=", "<=", ">="]
EXTREMES = ["0", "-1", "1e309", "1e-320", "nan", "inf", "1e9", "123456789012345678901234567890", "9" * 400,
            "1e308", "0.5", "2", "1e-9", "3", "100", "1e5", "100001", "-0", "0.0", "1e15"]
SEPARATORS = ["\x0c", "\u2028", "\u2029", "\x0b", "\x85", "\r", "\x1c", "\x1e", "\x00", "\x1b", "\t", "\ufeff",
              "\u00a0", "\u200b", "\x7f"]
WRAPPERS = ["({})", "-{}", "[{}]", "abs({})", "max({}, 1)", "-({})", "({} + 1)", "not {}", "({},)"]
DEPTHS = [10, 50, 99, 100, 101, 150, 300, 1000, 5000]
COUNTS = [2, 20, 63, 64, 65, 100, 1000, 1001, 100000, 1000000, 1e9]


@dataclass
class Source:
    name: str  # path relative to the repository
    text: str

    @property
    def params(self) -> list[str]:
        return re.findall(r"^\s*param\s+(\w+)", self.text, re.M)


@dataclass
class Mutant:
    index: int
    source: str
    data: bytes  # the file's bytes (not always UTF-8)
    sets: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)


def sources(root: Path = ROOT) -> list[Source]:
    """The shipped specs, in a fixed order."""
    paths = sorted((root / "specs").rglob("*.mech")) + [root / "tests" / "fixtures" / "features.mech"]
    return [Source(str(p.relative_to(root)), p.read_text(encoding="utf-8")) for p in paths]


def tokens(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in TOKEN.finditer(text)]


def _solid(toks) -> list[int]:
    return [i for i, (kind, _) in enumerate(toks) if kind not in ("ws",)]


def _pick(rng: random.Random, toks, kinds) -> int | None:
    idx = [i for i, (kind, _) in enumerate(toks) if kind in kinds]
    return rng.choice(idx) if idx else None


def _join(toks) -> str:
    return "".join(t for _, t in toks)


def op_delete(rng, text, sets, src):
    toks = tokens(text)
    solid = _solid(toks)
    if solid:
        del toks[rng.choice(solid)]
    return _join(toks), sets


def op_duplicate(rng, text, sets, src):
    toks = tokens(text)
    solid = _solid(toks)
    if solid:
        i = rng.choice(solid)
        toks.insert(i, toks[i])
    return _join(toks), sets


def op_swap(rng, text, sets, src):
    toks = tokens(text)
    solid = _solid(toks)
    if len(solid) > 1:
        i, j = rng.sample(solid, 2)
        toks[i], toks[j] = toks[j], toks[i]
    return _join(toks), sets


def op_insert(rng, text, sets, src):
    toks = tokens(text)
    word = rng.choice(KEYWORDS + PUNCTUATION + EXTREMES + ["x", "A", "value", "message"])
    toks.insert(rng.randrange(len(toks) + 1), ("name", f" {word} "))
    return _join(toks), sets


def op_number(rng, text, sets, src):
    toks = tokens(text)
    i = _pick(rng, toks, ("num",))
    if i is not None:
        toks[i] = ("num", rng.choice(EXTREMES))
    return _join(toks), sets


def op_rename(rng, text, sets, src):
    toks = tokens(text)
    i = _pick(rng, toks, ("name",))
    if i is not None:
        names = [t for kind, t in toks if kind == "name"]
        toks[i] = ("name", rng.choice([rng.choice(names), rng.choice(KEYWORDS), "zz", "self", "items", "agents"]))
    return _join(toks), sets


def op_nest(rng, text, sets, src):
    toks = tokens(text)
    i = _pick(rng, toks, ("num", "name"))
    if i is not None:
        inner = toks[i][1]
        wrap = rng.choice(WRAPPERS)
        for _ in range(rng.choice(DEPTHS)):
            inner = wrap.format(inner)
        toks[i] = ("num", inner)
    return _join(toks), sets


def op_long_sum(rng, text, sets, src):
    toks = tokens(text)
    i = _pick(rng, toks, ("num",))
    if i is not None:
        joiner = rng.choice(["+", " - ", "*", " + ", ", "])
        toks[i] = ("num", joiner.join([toks[i][1]] * rng.choice(DEPTHS)))
    return _join(toks), sets


def op_separator(rng, text, sets, src):
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(SEPARATORS) * rng.choice([1, 1, 2, 5]) + text[at:], sets


def op_huge_range(rng, text, sets, src):
    n = rng.choice(COUNTS)
    make = rng.choice([f"range({n})", f"linspace(0, 1, {n})", f"range({n}) + range({n})", f"midpoints(range({n}))",
                       f"unique(range({n}))", f"sorted(linspace(0, 1, {n}))", f"range(-{n}, {n})"])
    toks = tokens(text)
    i = _pick(rng, toks, ("num",))
    if i is not None and rng.random() < 0.5:
        toks[i] = ("num", make)
        return _join(toks), sets
    lists = [m.span() for m in re.finditer(r"\[[^\[\]\n]*\]|range\([^()\n]*\)|linspace\([^()\n]*\)", text)]
    if lists:
        a, b = rng.choice(lists)
        return text[:a] + make + text[b:], sets
    return text + f"\nparam zz = len({make})\n", sets


def op_many_agents(rng, text, sets, src):
    n = rng.choice(COUNTS)
    groups = list(re.finditer(r"agents\s+\w+\s*\[([^\]\n]*)\]", text))
    if groups and rng.random() < 0.5:
        m = rng.choice(groups)
        return text[: m.start(1)] + str(n) + text[m.end(1):], sets
    body = rng.choice(["action m in {A, B}", "type value ~ uniform [0, 1]", "",
                       "type value ~ uniform [0, 1]\n action m in range(3)", "type v[item] ~ uniform [0, 1]"])
    block = f"\nagents zz[{n}] {{ {body} }}\n"
    at = text.find("leader")
    at = at if at >= 0 else len(text)
    return text[:at] + block + text[at:], sets


def op_many_params(rng, text, sets, src):
    n = rng.choice([50, 200, 1000, 8000])
    style = rng.choice(["chain", "flat", "list"])
    if style == "chain":
        lines = ["param zz0 = 1"] + [f"param zz{k} = zz{k - 1} + 1" for k in range(1, n)]
    elif style == "flat":
        lines = [f"param zz{k} = {k}" for k in range(n)]
    else:
        lines = ["param zz0 = range(1000)"] + [f"param zz{k} = zz{k - 1} + zz{k - 1}" for k in range(1, min(n, 40))]
    return "\n".join(lines) + "\n" + text, sets


def op_many_items(rng, text, sets, src):
    n = rng.choice([3, 12, 13, 20, 40, 1000])
    names = ", ".join(f"zz{k}" for k in range(n))
    return f"items {names}\n" + text, sets


def op_docstring(rng, text, sets, src):
    size = rng.choice([10, 10_000, 100_001, 150_000, 250_000])
    doc = '"""' + "d" * size + '"""\n'
    if text.lstrip().startswith('"""'):
        end = text.find('"""', text.find('"""') + 3)
        return doc + text[end + 3:], sets
    return doc + text, sets


def op_truncate(rng, text, sets, src):
    return text[: rng.randrange(len(text) + 1)], sets


def op_duplicate_line(rng, text, sets, src):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return "\n".join(lines), sets


def op_splice(rng, text, sets, src):
    lines = [ln for s in ALL_SOURCES for ln in s.text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    out = text.split("\n")
    out.insert(rng.randrange(len(out) + 1), rng.choice(lines))
    return "\n".join(out), sets


def op_block(rng, text, sets, src):
    n = rng.choice(EXTREMES + ["1e9", "100000", "100001"])
    block = rng.choice([
        f"dynamics {{ equilibrium = {n} }}", f"dynamics {{ reward = {n} }}", f"dynamics {{ step = {n} }}",
        f"training {{ steps = {n} }}", f"training {{ lr = {n} }}", "dynamics { normalize = 2 }",
        f"objective = {n} / 0", f"utility = {n} ^ {n}", f"param zz = {n} * {n} * {n}",
        f"table zz[items] = [{n}]", "objective = 1 / (0 * 1)",
    ])
    return text + "\n" + block + "\n", sets


def op_payoff(rng, text, sets, src):
    """Replace a payoff by a heavy or dangerous one."""
    n = rng.choice(["1", "0", "1e308", "2", "1e-320"])
    expr = rng.choice([
        "sum(i in agents: sum(j in agents: sum(k in agents: 1)))", f"1 / (1 - {n})", f"{n} ^ 400",
        "max(i in agents: min(j in items: 1))", "sum(j in items: units(self, j) / 0.0)", f"1e300 * {n} * 1e300",
        "if 1 > 0 then 1 / 0 else 0", "abs(-1) ^ 0.5 ^ -2", "(0 - 1) ^ 0.5", "paid(self) / worth(self)",
        "units(self) * 1e308 * 10",
    ])
    lines = text.split("\n")
    spots = [i for i, ln in enumerate(lines) if re.match(r"\s*(utility|objective)\b.*=", ln)]
    if spots:
        i = rng.choice(spots)
        lines[i] = lines[i].split("=", 1)[0] + "= " + expr
        return "\n".join(lines), sets
    return text + f"\nobjective = {expr}\n", sets


def op_units(rng, text, sets, src):
    count = rng.choice(["0", "1.5", "1e9", "1e300", "-1", "100"])
    m = re.search(r"\bitem\s+\w+", text)
    if m:
        return text[: m.end()] + f" units {count}" + text[m.end():], sets
    return f"item zz units {count}\n" + text, sets


def op_mild_number(rng, text, sets, src):
    """A plausible number, so the spec often still compiles and the later stages run."""
    toks = tokens(text)
    i = _pick(rng, toks, ("num",))
    if i is not None:
        toks[i] = ("num", rng.choice(["0", "1", "2", "3", "0.5", "0.25", "10", "1e-9", "1e6", "4", "7"]))
    return _join(toks), sets


def op_mild_set(rng, text, sets, src):
    name = rng.choice(src.params or ["messages"])
    value = rng.choice(["1", "2", "3", "4", "6", "0.1", "0.5", "0.01", "1/3", "2*2", "12", "30"])
    return text, sets + [f"{name}={value}"]


def op_mild_list(rng, text, sets, src):
    lists = [m.span() for m in re.finditer(r"\[[^\[\]\n]*\]", text)]
    if not lists:
        return text, sets
    a, b = rng.choice(lists)
    k = rng.choice([1, 2, 3, 5, 8, 13, 30])
    make = rng.choice([f"linspace(0, 1, {k})", f"range({k})", f"[0] + midpoints(range({k}))", "[]", "[1, 1]"])
    return text[:a] + make + text[b:], sets


def op_set(rng, text, sets, src):
    names = src.params + ["zz", "eps", "messages", "types"]
    value = rng.choice(EXTREMES + ["1000000", "1/0", "range(3)", "true", "x", "", "2*", "-3", "1e-320", "(1, 2)",
                                   "[1, 2]", "messages", "1e400"])
    return text, sets + [f"{rng.choice(names)}={value}"]


OPS = [  # (weight, op)
    (6, op_delete), (4, op_duplicate), (4, op_swap), (4, op_insert), (8, op_number), (5, op_rename),
    (4, op_nest), (4, op_long_sum), (4, op_separator), (4, op_huge_range), (4, op_many_agents),
    (2, op_many_params), (2, op_many_items), (1, op_docstring), (2, op_truncate), (3, op_duplicate_line),
    (3, op_splice), (3, op_block), (6, op_set), (3, op_payoff), (1, op_units),
    (8, op_mild_number), (6, op_mild_set), (5, op_mild_list),
]
ALL_SOURCES = sources()
BAD_BYTES = [b"\xff", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\xc0\xaf"]


def mutant(seed: int, index: int, specs: list[Source] = ALL_SOURCES) -> Mutant:
    """The `index`-th mutant of a run: a function of (seed, index) alone."""
    rng = random.Random(f"{seed}/{index}")
    src = specs[index % len(specs)] if index < len(specs) else rng.choice(specs)
    text, sets, names = src.text, [], []
    if index >= len(specs):  # the first mutants of a run are the shipped specs themselves
        weights = [w for w, _ in OPS]
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            op = rng.choices([o for _, o in OPS], weights)[0]
            text, sets = op(rng, text, sets, src)
            names.append(op.__name__[3:])
    data = text.encode("utf-8", errors="surrogatepass")
    if index >= len(specs) and rng.random() < 0.02:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice(BAD_BYTES) + data[at:]
        names.append("bad_utf8")
    return Mutant(index, src.name, data, sets, names)


# ---------------------------------------------------------------------------
# running one mutant
# ---------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no `except Exception` swallows it."""


def _alarm(signum, frame):
    raise Hang()


def classify(exit_code: int, output: str, exc: BaseException | None) -> str:
    """The outcome of one command from its exit status, its output and its exception."""
    if isinstance(exc, Hang):
        return "hang"
    if isinstance(exc, MemoryError):
        return "oom"
    if exc is not None and not isinstance(exc, SystemExit):
        return "traceback"
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if exit_code == 0:
        return "nonfinite" if NONFINITE.search(summary_numbers(output)) else "ok"
    if exit_code == 2:
        if not LOCATED.search(output):
            return "unpositioned"
        return "positioned" if "\nhint: " in output else "no-hint"
    return "traceback"


def summary_numbers(output: str) -> str:
    """The compile summary without the spec's docstring (which may say 'inf')."""
    lines = output.splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.startswith(("params:", "items:", "followers:"))), 0)
    return "\n".join(lines[:1] + lines[end:])


def run_mutant(m: Mutant, workdir: Path) -> tuple[str, str, float]:
    """(outcome, what was printed, seconds) of `check` then, when it passes, `compile`."""
    from click.testing import CliRunner

    from mechdsl.cli import main

    path = workdir / f"mutant{m.index}.mech"
    path.write_bytes(m.data)
    args = [a for s in m.sets for a in ("--set", s)]
    start = time.perf_counter()
    outcome, printed = "ok", ""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(ALARM_S)
    try:
        for command in ("check", "compile"):
            result = CliRunner().invoke(main, [command, str(path), *args], catch_exceptions=True)
            printed = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                printed += "\n" + _trace(result.exception)
            outcome = classify(result.exit_code, result.output, result.exception)
            if outcome != "ok":
                break
    except Hang:
        outcome, printed = "hang", printed + "\n" + _trace(sys.exc_info()[1])
    except MemoryError:
        outcome, printed = "oom", printed + "\nMemoryError"
    finally:
        signal.alarm(0)
        path.unlink(missing_ok=True)
    return outcome, printed, time.perf_counter() - start


def _trace(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]


def _worker(conn, workdir: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, resource.getrlimit(resource.RLIMIT_AS)[1]))
    work = Path(workdir)
    while True:
        job = conn.recv()
        if job is None:
            return
        seed, index = job
        m = mutant(seed, index)
        outcome, printed, seconds = run_mutant(m, work)
        conn.send((index, outcome, printed[-6000:], seconds))


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------


class Pool:
    """Worker processes fed one mutant at a time; a worker that overruns or dies is
    killed and replaced (its mutant counts as hang or oom)."""

    def __init__(self, n: int, workdir: Path):
        self.ctx = mp.get_context("fork")
        self.workdir = workdir
        self.slots = [self._start(k) for k in range(n)]

    def _start(self, k: int):
        parent, child = self.ctx.Pipe()
        d = self.workdir / f"w{k}"
        d.mkdir(parents=True, exist_ok=True)
        proc = self.ctx.Process(target=_worker, args=(child, str(d)), daemon=True)
        proc.start()
        return {"proc": proc, "conn": parent, "job": None, "since": 0.0, "k": k}

    def run(self, seed: int, indices, on_result) -> None:
        todo = list(indices)[::-1]
        while todo or any(s["job"] is not None for s in self.slots):
            for slot in self.slots:
                if slot["job"] is None and todo:
                    slot["job"], slot["since"] = todo.pop(), time.time()
                    slot["conn"].send((seed, slot["job"]))
            ready = mp.connection.wait([s["conn"] for s in self.slots if s["job"] is not None], timeout=1.0)
            for slot in self.slots:
                if slot["job"] is None:
                    continue
                if slot["conn"] in ready:
                    try:
                        on_result(*slot["conn"].recv())
                        slot["job"] = None
                        continue
                    except (EOFError, OSError):
                        pass
                dead = not slot["proc"].is_alive()
                late = time.time() - slot["since"] > ALARM_S + 15
                if dead or late:
                    why = "oom" if dead else "hang"
                    detail = f"worker {'died (exit code %s)' % slot['proc'].exitcode if dead else 'killed after overrunning'}"
                    on_result(slot["job"], why, detail, time.time() - slot["since"])
                    self._replace(slot)

    def _replace(self, slot) -> None:
        if slot["proc"].is_alive():
            slot["proc"].kill()
        slot["proc"].join()
        slot.update(self._start(slot["k"]))

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot["conn"].send(None)
            except OSError:
                pass
            slot["proc"].join(timeout=5)
            if slot["proc"].is_alive():
                slot["proc"].kill()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / ".fuzz"), help="where bad mutants are saved")
    ap.add_argument("--examples", type=int, default=3, help="bad mutants shown (and saved) per outcome")
    ap.add_argument("--json", default=None, help="also write the counts to this file")
    args = ap.parse_args(argv)

    import mechdsl.cli  # noqa: F401  (imported once, before the workers fork)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    examples: dict[str, list] = collections.defaultdict(list)
    slowest: list[tuple[float, int]] = []
    start = time.time()
    done = 0

    def on_result(index: int, outcome: str, printed: str, seconds: float) -> None:
        nonlocal done
        m = mutant(args.seed, index)
        counts[m.source][outcome] += 1
        slowest.append((seconds, index))
        done += 1
        if outcome in BAD and len(examples[outcome]) < args.examples:
            examples[outcome].append((m, printed))
            stem = out / outcome / f"mutant{index}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            stem.with_suffix(".mech").write_bytes(m.data)
            stem.with_suffix(".txt").write_text(
                f"source: {m.source}\nops: {', '.join(m.ops)}\nsets: {m.sets}\n\n{printed}", encoding="utf-8")
        if done % 500 == 0:
            print(f"  {done}/{args.mutants} mutants, {time.time() - start:.0f}s", file=sys.stderr, flush=True)

    pool = Pool(args.workers, out / "work")
    try:
        pool.run(args.seed, range(args.mutants), on_result)
    finally:
        pool.close()
    print(report(counts, examples, slowest, args, time.time() - start))
    if args.json:
        Path(args.json).write_text(json.dumps({k: dict(v) for k, v in counts.items()}, indent=1))
    return 1 if any(c[b] for c in counts.values() for b in BAD) else 0


def report(counts, examples, slowest, args, seconds: float) -> str:
    classes = list(GOOD) + list(BAD)
    width = max(len(s) for s in counts) if counts else 10
    lines = [f"bench/fuzz.py --mutants {args.mutants} --seed {args.seed} --workers {args.workers}: "
             f"{seconds:.0f}s", ""]
    lines.append(f"{'source':{width}}  " + "  ".join(f"{c:>12}" for c in classes))
    total = collections.Counter()
    for src in sorted(counts):
        total.update(counts[src])
        lines.append(f"{src:{width}}  " + "  ".join(f"{counts[src][c]:>12}" for c in classes))
    lines.append(f"{'total':{width}}  " + "  ".join(f"{total[c]:>12}" for c in classes))
    slow = sorted(slowest, reverse=True)[:5]
    lines += ["", "slowest: " + ", ".join(f"#{i} {s:.1f}s" for s, i in slow)]
    for outcome in BAD:
        for m, printed in examples.get(outcome, []):
            lines += ["", f"--- {outcome}: mutant {m.index} of {m.source} ({', '.join(m.ops)}) sets={m.sets}",
                      f"    saved as {Path(args.out) / outcome / f'mutant{m.index}.mech'}",
                      *("    " + ln for ln in printed.strip().splitlines()[-15:])]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
