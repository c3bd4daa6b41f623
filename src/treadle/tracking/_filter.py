"""The run filter language, e.g. ``metrics.acc > 0.9 and params.lr = '0.01' and tags.team = 'a'``.

Grammar (case-insensitive keywords)::

    filter      := expr?
    expr        := term (OR term)*
    term        := factor (AND factor)*
    factor      := comparison | '(' expr ')'
    comparison  := ident op value | ident [NOT] IN '(' value, ... ')' | ident IS [NOT] NULL
    ident       := (metrics|params|tags|attributes) '.' key  |  attribute
    key         := name with letters, digits, _ - / . :  or a `backquoted` / "quoted" name
    op          := = == != <> < <= > >= LIKE ILIKE

Attributes: run_id, name (run_name), status, start_time, end_time, parent_id, experiment_id.
Metrics compare with a run's latest value. Parsing errors name the position and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from treadle.errors import InvalidArgument

_GRAMMAR = r"""
?start: expr?
?expr: term (_OR term)*      -> or_
?term: factor (_AND factor)*  -> and_
?factor: comparison | "(" expr ")"
comparison: ident OP value                              -> compare
          | ident NOT? _IN "(" value ("," value)* ")"   -> in_
          | ident _IS NOT? _NULL                        -> is_null
ident: PREFIXED | NAME
value: STRING | NUMBER
OP: "==" | "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">" | /like/i | /ilike/i
PREFIXED.2: /[A-Za-z_]+\.(`[^`]+`|"[^"]+"|[A-Za-z0-9_\-\/.:]+)/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^'\\]|\\.)*'/ | /"(?:[^"\\]|\\.)*"/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/ | /[+-]?inf(inity)?/i | /nan/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i
NOT.2: /not\b/i
%import common.WS
%ignore WS
"""

_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
ATTRIBUTES = {
    "run_id": "id",
    "id": "id",
    "name": "name",
    "run_name": "name",
    "status": "status",
    "start_time": "start_time",
    "end_time": "end_time",
    "parent_id": "parent_id",
    "experiment_id": "experiment_id",
}


@dataclass(frozen=True)
class Field:
    kind: str  # metric | param | tag | attribute
    key: str


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != < <= > >= like ilike in not in is null / is not null
    value: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Any, ...]


def parse_field(text: str) -> Field:
    """``metrics.acc`` -> Field("metric", "acc"); a bare ``status`` is an attribute."""
    if "." in text:
        prefix, key = text.split(".", 1)
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise InvalidArgument(
                f"unknown field prefix {prefix!r} in {text!r}: use metrics., params., tags. or attributes."
            )
        if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
            key = key[1:-1]
    else:
        kind, key = "attribute", text
    if kind == "attribute":
        if key.lower() not in ATTRIBUTES:
            raise InvalidArgument(f"unknown run attribute {key!r}; known: {', '.join(sorted(ATTRIBUTES))}")
        key = ATTRIBUTES[key.lower()]
    return Field(kind, key)


@v_args(inline=True)
class _Build(Transformer[Token, Any]):
    def ident(self, tok: Token) -> Field:
        return parse_field(str(tok))

    def value(self, tok: Token) -> Any:
        if tok.type == "STRING":
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
        return float(tok)

    def compare(self, field: Field, op: Token, value: Any) -> Compare:
        o = str(op).lower()
        o = {"==": "=", "<>": "!="}.get(o, o)
        return Compare(field, o, value)

    def in_(self, field: Field, *rest: Any) -> Compare:
        negate = isinstance(rest[0], Token) and rest[0].type == "NOT"
        values = rest[1:] if negate else rest
        return Compare(field, "not in" if negate else "in", tuple(values))

    def is_null(self, field: Field, *rest: Any) -> Compare:
        return Compare(field, "is not null" if rest else "is null", None)

    def and_(self, *items: Any) -> Any:
        return items[0] if len(items) == 1 else BoolOp("and", items)

    def or_(self, *items: Any) -> Any:
        return items[0] if len(items) == 1 else BoolOp("or", items)


_parser = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


def parse_filter(text: str | None) -> Compare | BoolOp | None:
    """Parse a filter string into a small tree; raise InvalidArgument with the position on error."""
    if text is None or not text.strip():
        return None
    try:
        tree = _parser.parse(text)
        return _Build().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, InvalidArgument):
            raise exc.orig_exc from None
        raise InvalidArgument(f"bad filter {text!r}: {exc.orig_exc}") from None
    except UnexpectedInput as exc:
        near = text[max(0, exc.column - 1) : exc.column + 15] if exc.column > 0 else text[:16]
        raise InvalidArgument(
            f"bad filter at column {exc.column}: unexpected input near {near!r} in {text!r}. "
            "Example: metrics.acc > 0.9 and params.lr = '0.01'"
        ) from None
    except LarkError as exc:
        raise InvalidArgument(f"bad filter {text!r}: {exc}") from None
