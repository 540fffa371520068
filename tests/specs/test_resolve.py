"""`nnspec resolve`: the expanded spec as YAML that loads back into the same graph, for every example."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main
from nnspec.compiler.summary import summarize
from nnspec.specs.load import parse_spec
from nnspec.specs.resolve import resolved_yaml

from ..conftest import EXAMPLES

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("name", NAMES)
def test_resolving_the_resolved_spec_gives_the_same_graph(name):
    spec = nnspec.load_spec(EXAMPLES / f"{name}.yaml")
    text = resolved_yaml(spec)
    assert "${" not in text and "block:" not in text and "extends" not in text
    again = parse_spec(text, "resolved.yaml")
    assert summarize(nnspec.compile_spec(again)) == summarize(nnspec.compile_spec(spec))
    body = lambda t: t.split("\n", 1)[1]  # noqa: E731  (the header names the source file)
    assert body(resolved_yaml(again)) == body(text)
    assert again.train == spec.train


def test_resolve_command_applies_overrides():
    result = CliRunner().invoke(main, ["resolve", "example:resnet_small", "--set", "params.classes=4"])
    assert result.exit_code == 0, result.output
    spec = parse_spec(result.stdout)
    assert spec.nodes[-1].units == 4
    assert any(n.id == "stage3.block2.conv2" for n in spec.nodes)


@pytest.mark.parametrize("name", ["siamese", "transformer"])
def test_resolved_specs_keep_shared_weights(name):
    from nnspec.api import resolve, summary

    text = resolve(f"zoo:{name}")
    assert "share:" in text
    again = parse_spec(text, f"{name}.resolved.yaml")  # its expect: params is checked again on this load
    assert summary(again)["params"] == summary(f"zoo:{name}")["params"]
