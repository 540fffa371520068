"""The `deploy:` section and `train.prune` are validated like every spec field: located, all at once, exit 2."""

from __future__ import annotations

import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import parse_spec

BASE = """\
name: d
inputs: {x: {shape: [4]}}
nodes:
  - {id: hidden, op: dense, units: 8}
  - {id: out, op: dense, units: 3, activation: softmax}
"""


def _problems(tail: str) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(BASE + tail, "d.yaml")
    return [f"{d.loc.line}:{d.path}: {d.message}" for d in err.value.diagnostics]


def test_a_valid_deploy_section_loads_with_its_defaults():
    spec = parse_spec(BASE + "deploy:\n  prune_channels: {flops: 0.5}\n  quantize: [static, litert]\n", "d.yaml")
    assert spec.deploy.prune_channels.multiple == 16 and spec.deploy.fold_batchnorm is True
    assert spec.deploy.quantize == ["static", "litert"] and spec.deploy.max_accuracy_drop is None


def test_deploy_mistakes_are_all_reported_at_their_lines():
    problems = _problems("deploy:\n  prune_channels: {ratio: 0.5, flops: 0.5}\n  factorize: {}\n"
                         "  quantize: [static, int4]\n  max_accuracy_drop: 2\n")
    assert [p.split(":")[0] for p in problems] == ["7", "8", "9", "10"]
    assert "exactly one of ratio, flops" in problems[0] and "exactly one of rank, energy" in problems[1]
    assert "'int4'" in problems[2] and "less than or equal to 1" in problems[3]


def test_prune_layers_must_name_nodes():
    problems = _problems("train:\n  data: iris\n  loss: sparse_categorical_crossentropy\n"
                         "  prune: {sparsity: 0.5, layers: [hiden, out]}\n")
    assert len(problems) == 1 and "'hiden' is not a node id. Did you mean 'hidden'?" in problems[0]
