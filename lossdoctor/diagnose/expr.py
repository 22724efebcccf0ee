"""The rules' expression language: one Python-syntax expression over named values.

Allowed: numbers, strings, True/False/None, names, + - * / // %, comparisons (chains
too, and `in` / `not in` a literal tuple or list), and/or/not, `x if c else y`, and calls
to the functions in FUNCTIONS. Nothing else parses: no attribute access, no subscripts,
no lambdas, no comprehensions, no `**` (a huge power never ends), no keyword arguments.
The tree is checked once, when the rule loads, and then walked by `evaluate`; nothing is
ever passed to eval or exec.

A name with no value (an unknown fact: absent from the values) stops the evaluation with
`Missing`, unless and/or/if have already decided the result without it. A known fact may
have the value None (`nan_step` of a run with no NaN): test it with `nan_step != None`.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Callable

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}


class ExprError(ValueError):
    """An expression that is not allowed; raised when it is compiled."""


class Missing(Exception):
    """A name the expression needs has no value (an unknown fact)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class EvalError(Exception):
    """The expression failed on these values (division by zero, log of a negative, ...)."""


@dataclass(frozen=True)
class Expr:
    source: str
    tree: ast.expr
    names: frozenset[str]  # the value names it reads (functions excluded)

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return evaluate(self, values)


def compile_expr(source: str, known: Collection[str]) -> Expr:
    """Parse and check `source`; every name must be in `known`.

    Raises ExprError with what is not allowed and where.
    """
    if not isinstance(source, (str, int, float, bool)):
        raise ExprError(f"expected an expression, got {type(source).__name__}")
    text = str(source)
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ExprError(f"syntax error in {text!r}: {e.msg}") from None
    names: set[str] = set()
    _check(tree, known, names, text)
    return Expr(text, tree, frozenset(names))


def _check(node: ast.AST, known: Collection[str], names: set[str], text: str) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed in {text!r}")
        return
    if isinstance(node, ast.Name):
        if node.id not in known:
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id!r} is a function; call it: {node.id}(...)")
            raise ExprError(f"unknown name {node.id!r} in {text!r}")
        names.add(node.id)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExprError(f"call to {what!r} is not allowed in {text!r} "
                            f"(functions: {', '.join(FUNCTIONS)})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"only plain arguments are allowed in {text!r}")
        for a in node.args:
            _check(a, known, names, text)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, known, names, text)
        _check(node.right, known, names, text)
        return
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, known, names, text)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, known, names, text)
        return
    if isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        _check(node.left, known, names, text)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.Tuple, ast.List)):
                    raise ExprError(f"`in` needs a literal tuple or list in {text!r}")
                for elt in right.elts:
                    _check(elt, known, names, text)
            else:
                _check(right, known, names, text)
        return
    if isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, known, names, text)
        return
    if isinstance(node, (ast.Tuple, ast.List)):
        raise ExprError(f"a tuple or list is allowed only after `in`, in {text!r}")
    what = type(node.op).__name__ if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node).__name__
    raise ExprError(f"{what} is not allowed in {text!r}")


def evaluate(expr: Expr, values: Mapping[str, Any]) -> Any:
    """The value of `expr`; Missing for an unknown name it needs, EvalError on bad math."""
    try:
        return _eval(expr.tree, values)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as e:
        raise EvalError(f"{expr.source!r}: {e}") from None


def _eval(node: ast.AST, v: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in v:
            raise Missing(node.id)
        return v[node.id]
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        for part in node.values:
            result = _eval(part, v)
            if bool(result) != is_and:  # `and` stops at a false part, `or` at a true one
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, v))
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, v), _eval(node.right, v))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, v)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = (tuple(_eval(e, v) for e in comp.elts) if isinstance(comp, (ast.Tuple, ast.List))
                     else _eval(comp, v))
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, v) if _eval(node.test, v) else _eval(node.orelse, v)
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_eval(a, v) for a in node.args))  # type: ignore[attr-defined]
    raise EvalError(f"unexpected {type(node).__name__}")  # _check lets nothing else through
