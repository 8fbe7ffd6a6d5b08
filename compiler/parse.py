"""Text -> Lark parse tree, with syntax errors a person can read.

The grammar lives in grammar/mech.lark and is read through the package's loader, so it
travels with the installed package.  A failed parse becomes a `MechSyntaxError` that
points at the offending token and says, in words, what could have come instead.
"""
from __future__ import annotations

import functools
import pkgutil

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mechdsl.compiler.errors import MechSizeError, MechSyntaxError
from mechdsl.compiler.lalr_cache import cached_lalr
from mechdsl.compiler.limits import MAX_DOC_CHARS, MAX_NESTING, MAX_SOURCE_CHARS, MAX_TOKENS, show
from mechdsl.compiler.model import Span

STATEMENT_KEYWORDS = (
    "param", "item", "items", "agent", "agents", "joint", "leader", "valuation",
    "ties", "table", "utility", "objective", "dynamics", "training",
)
OPERATORS = ("+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "and", "or", ".", "[")
EXPRESSION_STARTS = {"a name", "a number", "'('", "'['", "'-'", "'true'", "'false'", "'if'", "'not'", "'units'"}
NAMED_TERMINALS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "DOCSTRING": "a docstring",
    "$END": "end of file",
}

# Known mistakes, matched by parser state (Lark's `match_examples`); the label is the hint.
COMMON_MISTAKES = {
    "a param is written `param name = value`": [
        "param x 2",
        "param x: 2",
    ],
    "a type is written `type value ~ <distribution>` or `type value in <support>`": [
        "agent a { type value = 1 }",
        "agent a { type value: 1 }",
    ],
    "an action is written `action name in {A, B}` or `action name in range(n)`": [
        "agent a { action m range(2) }",
        "agent a { action m = {A, B} }",
        "agent a { action m {A, B} }",
    ],
    "a leader choice is written `choose name in {A, B}` (add `mixed` to randomize)": [
        "leader { choose r {A, B} }",
        "leader { choose r = {A, B} }",
    ],
    "separate the members of a set with commas: {A, B, C}": [
        "agent a { action m in {A B} }",
    ],
    "statements inside `agent { }` are `type ...`, `action ...` and `participation optional`": [
        "agent a { param x = 1 }",
        "agent a { utility = 1 }",
        "agent a { choose x in {A} }",
    ],
    "statements inside `leader { }` are `observe`, `choose` and `rounds { }`": [
        "leader { action x in {A} }",
        "leader { param x = 1 }",
        "leader { utility = 1 }",
    ],
    "`rounds { }` holds `visit remaining agent`, `price each item in ...` and `observe remaining`": [
        "leader { rounds { choose x in {A} } }",
        "leader { rounds { price x in [1] } }",
    ],
    "a table is written `table name[axis, axis] = [[...], ...]`": [
        "table t = [1]",
    ],
    "an `if` needs both branches: `if c then a else b`": [
        "param x = if 1 then 2",
        "utility = if c then 2",
    ],
}


# How the parser is built (the shipped tables, grammar/tables.py, are made with these).
LALR_OPTIONS = {"parser": "lalr", "lexer": "basic", "propagate_positions": True, "start": ["start", "value"]}


@functools.lru_cache(maxsize=1)
def parser() -> lark.Lark:
    """The LALR parser, built once (start rules: `start` for files, `value` for --set).

    The basic lexer reserves every keyword everywhere, so `item x units 2` and the
    outcome `units(i)` both read `units` as the keyword.  The tables come ready-made
    (`compiler.lalr_cache`) so a command does not rebuild them at every start.
    """
    return cached_lalr(grammar_text(), **LALR_OPTIONS)


def grammar_text() -> str:
    """grammar/mech.lark, read through the package's loader wherever it is installed
    (`pkgutil.get_data`: `importlib.resources` would add 2 ms to every start)."""
    return pkgutil.get_data("mechdsl.grammar", "mech.lark").decode("utf-8").replace("\r\n", "\n")


@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """keyword text -> the terminal that spells it."""
    return {
        t.pattern.value: t.name
        for t in parser().terminals
        if t.pattern.type == "str" and t.pattern.value.isidentifier()
    }


def parse(text: str, path: str = "", start: str = "start") -> lark.Tree:
    """Parse a whole spec (or, with start="value", one constant expression).

    Text past `MAX_SOURCE_CHARS`, a docstring past `MAX_DOC_CHARS` and expressions
    nested past `MAX_NESTING` levels are size errors: every later stage may then walk
    an expression recursively without running out of stack.
    """
    if len(text) > MAX_SOURCE_CHARS:
        raise too_long(text, path, f"{show(len(text))} characters long")
    if len(text) > MAX_TOKENS:  # a text this long may have too many tokens: count them (lexing is cheap)
        _check_tokens(text, path)
    try:
        tree = parser().parse(text, start=start)
    except UnexpectedInput as e:
        raise syntax_error(e, text, path) from None
    _check_docstring(tree, text, path)
    _check_nesting(tree, text, path)
    return tree


def too_long(text: str, path: str, size: str) -> MechSizeError:
    """The spec is longer than `MAX_SOURCE_CHARS`: an error at the first character past it."""
    line, column = position(text, MAX_SOURCE_CHARS)
    return MechSizeError(
        f"the spec is {size}, more than the limit of {MAX_SOURCE_CHARS:,} characters",
        path=path, span=Span.make(line=line, column=column), source=text,
        hint="a spec describes a mechanism in a few pages; generate large lists with range(), "
        "linspace() or agents x[n]",
    )


def _check_tokens(text: str, path: str) -> None:
    """Refuse more than `MAX_TOKENS` tokens before parsing them, at the first one past the limit.
    A text the lexer rejects is left to `parse`, which reports it."""
    try:
        for count, token in enumerate(parser().lex(text), 1):
            if count > MAX_TOKENS:
                raise MechSizeError(
                    f"the spec has more than {MAX_TOKENS:,} tokens", path=path, source=text,
                    span=Span.make(line=token.line, column=token.column, end_line=token.line,
                                   end_column=token.column + 1),
                    hint="generate long lists with range() or linspace(), and groups of agents with agents x[n]",
                )
    except UnexpectedInput:
        return


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset, counting lines at "\\n" as the parser does."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _check_docstring(tree: lark.Tree, text: str, path: str) -> None:
    first = tree.children[0] if tree.children else None
    if isinstance(first, lark.Token) and first.type == "DOCSTRING" and len(first) - 6 > MAX_DOC_CHARS:
        raise MechSizeError(
            f"the docstring is {show(len(first) - 6)} characters long, more than the limit of {MAX_DOC_CHARS:,}",
            path=path, span=Span.make(line=first.line, column=first.column, end_line=first.line,
                                      end_column=first.column + 3),
            source=text, hint="keep the docstring to a summary; put long notes in a separate file",
        )


# grammar rules that are not expressions: nesting counts from an expression's outermost node
STRUCTURE_RULES = frozenset(
    "start value param item items items_count agent agents type_decl participation item_mark per_item_mark support uniform dist_table "
    "dist_entry action labelset all_items all_agents joint field_ref leader observe observe_target choose mixed "
    "rounds visit price_interval price_grid observe_remaining observe_allocation valuation_unit valuation_additive "
    "ties_buy ties_pass table table_axis items_axis agents_axis utility objective_expr objective_named dynamics "
    "training setting".split()
)


def _check_nesting(tree: lark.Tree, text: str, path: str) -> None:
    """Walk the tree without recursion; refuse an expression nested too deep, pointing at
    its outermost node."""
    stack: list[tuple[lark.Tree, int, lark.Tree | None]] = [(tree, 0, None)]
    while stack:
        node, depth, outer = stack.pop()
        if node.data not in STRUCTURE_RULES:
            depth, outer = depth + 1, outer or node
        if depth > MAX_NESTING:
            meta = outer.meta
            span = Span.make(line=meta.line, column=meta.column, end_line=meta.end_line, end_column=meta.end_column) \
                if not meta.empty else Span.make(line=1, column=1)
            raise MechSizeError(
                f"this expression is nested more than {MAX_NESTING} levels deep",
                path=path, span=span, source=text,
                hint="a long chain such as a + b + c + ... nests one level per operator: split it with params, "
                "or use sum(i in agents: ...) over a table",
            )
        stack.extend((child, depth, outer) for child in node.children if isinstance(child, lark.Tree))


def syntax_error(e: UnexpectedInput, text: str, path: str) -> MechSyntaxError:
    """Turn a Lark exception into our error: position, what was found, what was expected."""
    if isinstance(e, UnexpectedCharacters):
        char = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        message = f"unexpected character {char!r}"
        span = Span.make(line=e.line, column=e.column, end_line=e.line, end_column=e.column + 1)
        expected = set()
    elif isinstance(e, UnexpectedEOF):
        message = "unexpected end of file"
        line, column = _end_position(text)
        span = Span.make(line=line, column=column)
        expected = set(e.expected)
    else:
        assert isinstance(e, UnexpectedToken)
        token = e.token
        if token.type == "$END":
            message = "unexpected end of file"
            line, column = _end_position(text)
            span = Span.make(line=line, column=column)
        else:
            message = f"unexpected {_describe_token(token)}"
            end = token.end_column if token.end_line == token.line else token.column + 1
            span = Span.make(line=token.line, column=token.column, end_line=token.line, end_column=end)
        expected = set(e.accepts or e.expected)
    hints = []
    if isinstance(e, UnexpectedToken) and e.token.type in set(_keywords().values()) and "NAME" in expected \
            and "NUMBER" not in expected:
        hints.append(f"'{e.token}' is a keyword and cannot be used as a name")
    if isinstance(e, UnexpectedCharacters):
        hints.append("that character has no meaning in mechdsl (comments start with #)")
    label = _match_mistake(e, text)
    if label:
        hints.append(label)
    if expected:
        hints.append("expected " + expected_words(expected))
    return MechSyntaxError(message, path=path, span=span, hint="; ".join(hints), source=text)


def expected_words(terminals: set[str]) -> str:
    """Say which tokens would have been accepted, in words, grouping long lists."""
    words = sorted({_terminal_word(t) for t in terminals if not t.startswith("__IGNORE")})
    if {"a name", "a number", "'('"} <= set(words):
        words = [w for w in words if w not in EXPRESSION_STARTS] + ["an expression"]
    statements = [w for w in words if w.strip("'") in STATEMENT_KEYWORDS]
    operators = [w for w in words if w.strip("'") in OPERATORS]
    rest = [w for w in words if w not in statements and w not in operators]
    parts = []
    if len(operators) >= 3:
        parts.append("an operator")
    else:
        rest += operators
    rest = sorted(set(rest), key=_word_order)
    parts += rest
    if len(statements) >= 3:
        parts.append("a new statement (" + ", ".join(w.strip("'") for w in statements[:4]) + ", ...)")
    else:
        parts += statements
    if len(parts) == 1:
        return parts[0]
    return "one of: " + ", ".join(parts)


def _word_order(word: str) -> tuple[int, str]:
    # quoted tokens first (they are the most specific), then descriptions, end of file last
    return (2 if word == "end of file" else 0 if word.startswith("'") else 1, word)


@functools.lru_cache(maxsize=None)
def _terminal_word(name: str) -> str:
    if name in NAMED_TERMINALS:
        return NAMED_TERMINALS[name]
    for term in parser().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"'{term.pattern.value}'"
    return name.lower()


def _describe_token(token: lark.Token) -> str:
    text = str(token.value)
    if len(text) > 40:  # a docstring in the wrong place, a 400-digit number...
        text = text[:30] + "..." + text[-6:]
    if token.type == "NAME":
        return f"name {text!r}"
    if token.type == "NUMBER":
        return f"number {text}"
    if token.type == "DOCSTRING":
        return f"docstring {text!r}"
    return repr(text)


def _match_mistake(e: UnexpectedInput, text: str) -> str:
    if not isinstance(e, UnexpectedToken) or e.state is None:
        return ""
    try:
        label = e.match_examples(
            lambda t: parser().parse(t, start="start"), COMMON_MISTAKES, use_accepts=True
        )
    except Exception:  # a broken example must never hide the real syntax error
        return ""
    return label or ""


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    # point just past the last non-blank line
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            return i + 1, len(lines[i].rstrip()) + 1
    return 1, 1
