"""`${...}` expressions: a small, safe evaluator (never Python `eval`).

The text is parsed with Python's own `ast` module and then interpreted by walking a whitelist of node types:
literals, names, arithmetic, comparisons, boolean logic, conditional expressions, lists, indexing and a handful
of pure functions. Anything else (attributes, comprehensions, lambdas, calls to anything not listed) is refused
with a message, so a spec can compute a width but never run code. Written by hand rather than taken from a
library such as simpleeval because nnspec needs this exact whitelist and messages that name the offending part.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
from typing import Any

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}  # fmt: skip
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float, "len": len}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_WHOLE = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
_PART = re.compile(r"\$\{(.*?)\}", re.DOTALL)
_MAX_POWER = 64  # `2 ** 10**9` would hang the process: exponents stay small


class ExprError(ValueError):
    """An expression that cannot be parsed or evaluated; the message names the part that is wrong."""


def has_expression(value: Any) -> bool:
    """True for strings containing `${...}`."""
    return isinstance(value, str) and "${" in value


def substitute(value: str, scope: dict[str, Any]) -> Any:
    """Evaluate the expressions in a string: a lone `${expr}` keeps its type, others are formatted in."""
    whole = _WHOLE.match(value)
    if whole and "${" not in whole.group(1):
        return evaluate(whole.group(1), scope)
    return _PART.sub(lambda m: _format(evaluate(m.group(1), scope)), value)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """The value of expression `text` with names from `scope`. Raises `ExprError`."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse `{text.strip()}`: {exc.msg}") from None
    try:
        return _eval(tree.body, scope)
    except ExprError:
        raise
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ExprError(f"`{text.strip()}` failed: {exc}") from None


def _eval(node: ast.AST, scope: dict[str, Any]) -> Any:
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise ExprError(f"`{ast.unparse(node)}` is not allowed in an expression ({type(node).__name__})")
    return handler(node, scope)


def _name(node: ast.Name, scope: dict[str, Any]) -> Any:
    if node.id in scope:
        return scope[node.id]
    if node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    close = difflib.get_close_matches(node.id, list(scope), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else f" Known names: {', '.join(sorted(scope)) or 'none'}."
    raise ExprError(f"unknown name '{node.id}'.{hint}")


def _binop(node: ast.BinOp, scope: dict[str, Any]) -> Any:
    op = _BINARY.get(type(node.op))
    if op is None:
        raise ExprError(f"operator in `{ast.unparse(node)}` is not allowed")
    left, right = _eval(node.left, scope), _eval(node.right, scope)
    if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_POWER:
        raise ExprError(f"exponent {right} in `{ast.unparse(node)}` is too large")
    return op(left, right)


def _unary(node: ast.UnaryOp, scope: dict[str, Any]) -> Any:
    value = _eval(node.operand, scope)
    if isinstance(node.op, ast.Not):
        return not value
    if isinstance(node.op, ast.USub):
        return -value
    if isinstance(node.op, ast.UAdd):
        return +value
    raise ExprError(f"operator in `{ast.unparse(node)}` is not allowed")


def _compare(node: ast.Compare, scope: dict[str, Any]) -> bool:
    left = _eval(node.left, scope)
    for op, right_node in zip(node.ops, node.comparators):
        right = _eval(right_node, scope)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _boolop(node: ast.BoolOp, scope: dict[str, Any]) -> Any:
    is_and = isinstance(node.op, ast.And)
    value = None
    for part in node.values:
        value = _eval(part, scope)
        if bool(value) != is_and:  # short-circuit like Python
            return value
    return value


def _call(node: ast.Call, scope: dict[str, Any]) -> Any:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in _FUNCTIONS or node.keywords:
        raise ExprError(f"`{ast.unparse(node.func)}(...)` is not allowed; functions: {', '.join(_FUNCTIONS)}")
    return _FUNCTIONS[name](*(_eval(arg, scope) for arg in node.args))


_HANDLERS = {
    ast.Constant: lambda node, scope: node.value,
    ast.Name: _name,
    ast.BinOp: _binop,
    ast.UnaryOp: _unary,
    ast.Compare: _compare,
    ast.BoolOp: _boolop,
    ast.IfExp: lambda n, s: _eval(n.body, s) if _eval(n.test, s) else _eval(n.orelse, s),
    ast.List: lambda n, s: [_eval(e, s) for e in n.elts],
    ast.Tuple: lambda n, s: [_eval(e, s) for e in n.elts],
    ast.Subscript: lambda n, s: _eval(n.value, s)[_eval(n.slice, s)],
    ast.Call: _call,
}
