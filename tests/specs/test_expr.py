"""The `${...}` evaluator: what it computes, and what it refuses (it must never run code)."""

from __future__ import annotations

import pytest

from nnspec.specs.expr import ExprError, evaluate, substitute

SCOPE = {"width": 64, "stride": 2, "name": "stage", "sizes": [1, 2, 3], "flag": True}


@pytest.mark.parametrize("text,value", [
    ("width * 2", 128),
    ("width // 3", 21),
    ("width / 4", 16.0),
    ("width % 5", 4),
    ("2 ** 3", 8),
    ("-width + 1", -63),
    ("min(width, 32)", 32),
    ("max(1, stride, 3)", 3),
    ("abs(-2)", 2),
    ("int(width / 3)", 21),
    ("round(2.6)", 3),
    ("len(sizes)", 3),
    ("sizes[stride]", 3),
    ("[width, stride]", [64, 2]),
    ("stride != 1", True),
    ("1 < stride <= 2", True),
    ("2 if stride == 1 else 1", 1),
    ("flag and width > 10", True),
    ("not flag or 0", 0),
    ("true", True),
    ("null", None),
    ("'a' + name", "astage"),
])
def test_evaluates(text, value):
    assert evaluate(text, SCOPE) == value


def test_a_lone_expression_keeps_its_type_and_others_are_formatted():
    assert substitute("${width * 2}", SCOPE) == 128
    assert substitute("${flag}", SCOPE) is True
    assert substitute("${name}_${stride}", SCOPE) == "stage_2"
    assert substitute("use ${flag}", SCOPE) == "use true"
    assert substitute("plain", SCOPE) == "plain"


@pytest.mark.parametrize("text,fragment", [
    ("__import__('os')", "not allowed"),
    ("width.real", "not allowed"),
    ("(lambda: 1)()", "not allowed"),
    ("[x for x in sizes]", "not allowed"),
    ("open('f')", "not allowed"),
    ("widht * 2", "Did you mean 'width'?"),
    ("width // 0", "division"),
    ("2 ** 1000", "too large"),
    ("width +", "cannot parse"),
    ("sizes[9]", "out of range"),
    ("sizes[1:]", "not allowed"),
    ("min(width, key=abs)", "not allowed"),
])
def test_refuses_with_a_message(text, fragment):
    with pytest.raises(ExprError, match=None) as info:
        evaluate(text, SCOPE)
    assert fragment in str(info.value)
