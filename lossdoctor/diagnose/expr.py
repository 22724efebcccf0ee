"""The rules' expression language: one Python-syntax expression over named values.

Allowed: numbers, strings, True/False/None, names, + - * / // %, comparisons (chains
too, and `in` / `not in` a literal tuple or list), and/or/not, `x if c else y`, and calls
to the functions in FUNCTIONS. Nothing else parses: no attribute access, no subscripts,
no lambdas, no comprehensions, no f-strings, no `:=`, no `**` or `<<` (a huge power never
ends), no keyword arguments. The tree is checked once, when the rule loads, and then
walked by `evaluate`; nothing is ever passed to eval or exec.

Rule files may come from users, so both steps are bounded (limits.py). At load: the
source length, the tree's depth (checked without recursion before anything recurses into
it) and the size of integer constants. At evaluation: an integer beyond ±1e300, a string
over MAX_TEXT characters (`'a' * 10**9`), `%` on text (printf formatting can pad to any
width) and round() to more than MAX_ROUND_DIGITS digits are errors, not a hang or
gigabytes; every failure is an EvalError, so a bad rule is "not applicable" and the
others go on.

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
from typing import Any, Callable, NamedTuple

from .limits import MAX_EXPR_CHARS, MAX_EXPR_DEPTH, MAX_INT, MAX_ROUND_DIGITS, MAX_TEXT


def _round(x: Any, ndigits: Any = None) -> Any:
    """round(), refusing ndigits beyond ±MAX_ROUND_DIGITS: round(1, -10**9) computes
    10**(10**9) and never ends."""
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round() to {ndigits} digits: beyond ±{MAX_ROUND_DIGITS}")
    return round(x, ndigits)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
}
KNOWN = "known"  # known(x): whether the name x is known for the run; never Missing (see _eval)

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)  # compared by size
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


class Failed(NamedTuple):
    """A value that could not be computed (a rule `let` that raised EvalError): reading it
    raises EvalError again, so the failure is not taken for an unknown fact that `and`/`or`
    may do without."""

    reason: str


@dataclass(frozen=True)
class Expr:
    source: str
    tree: ast.expr
    names: frozenset[str]  # the value names it reads (functions excluded)
    number: bool = False  # its value must be a finite number (else EvalError), e.g. an effect's size

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return evaluate(self, values)


def compile_expr(source: str, known: Collection[str], *, number: bool = False) -> Expr:
    """Parse and check `source`; every name must be in `known`. number: the value must be
    a finite number when evaluated.

    Raises ExprError with what is not allowed and where, also for a source longer than
    MAX_EXPR_CHARS or nested deeper than MAX_EXPR_DEPTH (the parser and the recursive
    checks below would otherwise run out of stack or memory on it).
    """
    if not isinstance(source, (str, int, float, bool)):
        raise ExprError(f"expected an expression, got {type(source).__name__}")
    text = str(source)
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression of {len(text):,} characters: longer than the {MAX_EXPR_CHARS:,} allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise ExprError(f"syntax error in {text!r}: {e.msg}") from None
    except (ValueError, MemoryError, RecursionError):  # null bytes (Python 3.10), parser stack overflow
        raise ExprError(f"cannot parse {text!r}: nested too deeply or not text") from None
    if _depth(tree) > MAX_EXPR_DEPTH:
        raise ExprError(f"{text!r} is nested more than {MAX_EXPR_DEPTH} deep")
    names: set[str] = set()
    _check(tree, known, names, text)
    return Expr(text, tree, frozenset(names), number)


def _depth(tree: ast.AST) -> int:
    """The depth of `tree`, without recursion (so that no depth is a risk)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def _check(node: ast.AST, known: Collection[str], names: set[str], text: str) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed in {text!r}")
        if isinstance(node.value, int) and not -MAX_INT <= node.value <= MAX_INT:
            raise ExprError(f"a number beyond ±1e300 in {text!r}")
        return
    if isinstance(node, ast.Name):
        if node.id not in known:
            if node.id in FUNCTIONS or node.id == KNOWN:
                raise ExprError(f"{node.id!r} is a function; call it: {node.id}(...)")
            raise ExprError(f"unknown name {node.id!r} in {text!r}")
        names.add(node.id)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in (*FUNCTIONS, KNOWN):
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExprError(f"call to {what!r} is not allowed in {text!r} "
                            f"(functions: {', '.join((*FUNCTIONS, KNOWN))})")
        if node.func.id == KNOWN and (len(node.args) != 1 or not isinstance(node.args[0], ast.Name)):
            raise ExprError(f"known() takes one name in {text!r}")
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
    if isinstance(node, ast.Compare):  # a comparison whose operator is not one of ours
        bad = next(op for op in node.ops if type(op) not in _CMPOPS)
        hint = (" (a value the run does not show: not known(name); a value that is None: == None)"
                if isinstance(bad, (ast.Is, ast.IsNot)) else "")
        raise ExprError(f"the operator `{_OP_WORDS.get(type(bad), type(bad).__name__)}` is not allowed{hint} "
                        f"in {text!r}")
    kind = type(node.op) if isinstance(node, (ast.BinOp, ast.UnaryOp)) else type(node)
    raise ExprError(f"{_OP_WORDS.get(kind, kind.__name__)} is not allowed in {text!r}")


_NUMERIC_FUNCTIONS = ("abs", "round", "ceil", "floor", "sqrt", "log", "log2", "log10", "exp")
_NUMERIC_OPS = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod)  # + and * also join or repeat text


def number_names(expr: Expr) -> dict[str, str]:
    """The names `expr` uses where only a number will do, each with the piece of source
    that needs it: an operand of - / // %, of a comparison by size or of a sign, an argument
    of a numeric function, or the whole of a number expression. A rule's param holding
    text in such a place could never evaluate (checked when the rule loads)."""
    out: dict[str, str] = {}
    if expr.number and isinstance(expr.tree, ast.Name):
        out[expr.tree.id] = expr.source
    for node in ast.walk(expr.tree):
        operands: list[ast.expr] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, _NUMERIC_OPS):
            operands = [node.left, node.right]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operands = [node.operand]
        elif isinstance(node, ast.Compare) and any(isinstance(op, _ORDER) for op in node.ops):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NUMERIC_FUNCTIONS:
            operands = list(node.args)
        for o in operands:
            if isinstance(o, ast.Name):
                out.setdefault(o.id, ast.unparse(node))
    return out


_OP_WORDS: dict[type, str] = {ast.Is: "is", ast.IsNot: "is not", ast.Pow: "** (a power)",
                              ast.JoinedStr: "an f-string", ast.NamedExpr: ":= (an assignment)",
                              ast.Lambda: "a lambda", ast.Subscript: "indexing", ast.Attribute: "an attribute",
                              ast.Dict: "a dict", ast.Set: "a set", ast.ListComp: "a comprehension",
                              ast.GeneratorExp: "a generator", ast.BitAnd: "& (bitwise)", ast.BitOr: "| (bitwise)",
                              ast.BitXor: "^ (bitwise)", ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~",
                              ast.MatMult: "@", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
                              ast.Await: "await", ast.Yield: "yield"}


def evaluate(expr: Expr, values: Mapping[str, Any]) -> Any:
    """The value of `expr`; Missing for an unknown name it needs, EvalError on bad math or
    a value beyond the limits: whatever the rule and the values, nothing else escapes. A
    number expression gives a finite number, or None: "does not apply to this run"."""
    try:
        result = _eval(expr.tree, values)
    except (ArithmeticError, ValueError, TypeError) as e:
        raise EvalError(f"{expr.source!r}: {e}") from None
    except (RecursionError, MemoryError):
        raise EvalError(f"{expr.source!r}: too large to compute") from None
    if expr.number and result is not None and not (isinstance(result, (int, float)) and math.isfinite(result)):
        what = repr(result) if isinstance(result, float) else type(result).__name__
        raise EvalError(f"{expr.source!r}: gives {what}, not a finite number")
    return result


def _eval(node: ast.AST, v: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in v:
            raise Missing(node.id)
        if isinstance(v[node.id], Failed):
            raise EvalError(v[node.id].reason)
        return v[node.id]
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        missing: Missing | None = None
        for part in node.values:  # an unknown part decides nothing: the others may still decide
            try:
                result = _eval(part, v)
            except Missing as m:
                missing = missing or m
                continue
            if bool(result) != is_and:  # `and` stops at a false part, `or` at a true one
                return result
        if missing is not None:
            raise missing
        return result
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, v))
    if isinstance(node, ast.BinOp):
        return _arith(type(node.op), _eval(node.left, v), _eval(node.right, v))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, v)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = (tuple(_eval(e, v) for e in comp.elts) if isinstance(comp, (ast.Tuple, ast.List))
                     else _eval(comp, v))
            if type(op) in _ORDER and isinstance(left, bool) != isinstance(right, bool):  # True < 5 holds in Python
                raise EvalError(f"{left!r} and {right!r} compared by size: a true/false value is no number "
                                "(a param written yes or no?)")
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, v) if _eval(node.test, v) else _eval(node.orelse, v)
    if isinstance(node, ast.Call):
        if node.func.id == KNOWN:  # type: ignore[attr-defined]
            arg = node.args[0]  # one name: checked when the expression was compiled
            assert isinstance(arg, ast.Name)
            return arg.id in v and not isinstance(v[arg.id], Failed)  # a let that failed is not known
        return _bounded(FUNCTIONS[node.func.id](*(_eval(a, v) for a in node.args)))  # type: ignore[attr-defined]
    raise EvalError(f"unexpected {type(node).__name__}")  # _check lets nothing else through


def _arith(op: type[ast.operator], a: Any, b: Any) -> Any:
    """`a op b`, refusing before it is built what would be too large: a repetition
    (`'a' * 10**9`) over MAX_TEXT items, and `%` on text (`'%01000000000d' % 1`)."""
    if op is ast.Mult and (isinstance(a, (str, tuple, list)) or isinstance(b, (str, tuple, list))):
        seq, times = (a, b) if isinstance(a, (str, tuple, list)) else (b, a)
        if isinstance(times, int) and len(seq) * times > MAX_TEXT:
            raise ValueError(f"a repetition of over {MAX_TEXT:,} characters")
    if op is ast.Mod and not isinstance(a, (int, float)):
        raise TypeError(f"% needs numbers, not {type(a).__name__}")
    return _bounded(_BINOPS[op](a, b))


def _bounded(value: Any) -> Any:
    """`value`, unless it is an integer beyond ±MAX_INT or text over MAX_TEXT characters:
    bounding every result bounds what a chain of lets can build (x*x*x... doubles digits)."""
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise OverflowError("an integer beyond ±1e300")
    if isinstance(value, (str, tuple, list)) and len(value) > MAX_TEXT:
        raise ValueError(f"a {type(value).__name__} of {len(value):,} characters or items: over {MAX_TEXT:,}")
    return value
