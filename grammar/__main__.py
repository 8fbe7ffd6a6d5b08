"""`python -m mechdsl.grammar`: rewrite tables.py, the parser's LALR tables, from mech.lark.

Run it after changing the grammar (tests/test_parse.py fails until then) or after
upgrading Lark (until then the tables are built once and kept in the user's cache).
Lark numbers states and tokens in set order, so two runs may write different files
that parse alike.
"""
from pathlib import Path

from mechdsl.compiler.lalr_cache import tables_source
from mechdsl.compiler.parse import LALR_OPTIONS, grammar_text

path = Path(__file__).with_name("tables.py")
path.write_text(tables_source(grammar_text(), **LALR_OPTIONS), encoding="utf-8")
print(f"wrote {path}")
