"""`nnspec schema`: a Draft-07 JSON Schema that accepts every shipped spec and the whole authoring
language, and rejects broken specs with a message that names the problem.

Messages are checked on `jsonschema.exceptions.best_match`, the error a validator shows first.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from jsonschema.exceptions import best_match

import nnspec.api
from nnspec.cli import main
from nnspec.layers import LAYERS
from nnspec.specs.schema import DRAFT_07, PARAM_TYPES, spec_schema

from ..conftest import EXAMPLES, ROOT

SHIPPED = sorted([*EXAMPLES.glob("*.yaml"), *(ROOT / "zoo").glob("**/*.yaml")])
DEFS = "#/definitions/"

# Every construct of docs/spec-language.md in one spec (it also passes `nnspec check`).
AUTHORING = """
nnspec: 1
name: "resnet_${width}"
params: {width: 16, depth: 2, act: relu, drop: true}
inputs:
  image: {shape: ["${8}", 8, 1], dtype: float32}
blocks:
  basic:
    params:
      filters: ~
      stride: 1
      act: {type: str, default: relu, doc: activation after the sum}
    inputs: [x]
    nodes:
      - {id: c1, op: conv2d, filters: "${filters}", strides: "${stride}", padding: same,
         use_bias: false, kernel_size: ["${stride + 2}", 3]}
      - {op: batch_norm}
      - {op: relu}
      - {op: conv2d, filters: "${filters}", padding: same, use_bias: false}
      - {id: main, op: batch_norm}
      - {id: proj, op: conv2d, from: x, filters: "${filters}", kernel_size: 1,
         strides: "${stride}", when: "${stride != 1}"}
      - {id: sum, op: add, from: [main, proj]}
      - {id: out, op: "${act}"}
    outputs: [out]
nodes:
  - {id: stem, op: conv2d, filters: "${width}", padding: same, activation: "${act}"}
  - {id: stage, block: basic, filters: "${width * 2}", stride: 2, repeat: "${depth}"}
  - {id: "conv_${width}", op: conv2d, filters: 8, padding: same, repeat: 2, from: stage}
  - {op: dropout, rate: 0.5, when: "${drop}"}
  - {op: global_avg_pool2d}
  - {id: logits, op: dense, units: 10, use_bias: "${drop}"}
outputs: ["${'logits'}"]
train:
  data: {name: sine_waves, samples: "${width * 10}"}
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: "${'adam'}", learning_rate: 0.003}
  epochs: "${depth * 5}"
"""

# A spec that extends another: every section is partial, and `nodes` patches the base's by id.
PATCH = """
extends: resnet_small.yaml
name: resnet_small_patched
params: {width: 8}
inputs: {image: {dtype: float16}}
blocks:
  basic: {params: {stride: 2}}
nodes:
  logits: {units: 3}
  stem_bn: null
  pool: {op: global_max_pool2d}
  drop: {after: pool, op: dropout, rate: 0.5}
train: {epochs: 3, optimizer: {learning_rate: 0.01}}
"""

GOOD = """
nnspec: 1
name: small
inputs: {image: {shape: [8, 8, 1]}}
nodes:
  - {id: c1, op: conv2d, filters: 8, padding: same}
  - {id: pool, op: global_avg_pool2d}
  - {id: logits, op: dense, units: 10}
train: {data: digits, loss: sparse_categorical_crossentropy, optimizer: adam}
"""


@pytest.fixture(scope="module")
def schema():
    return spec_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft7Validator(schema)


def _walk(node):
    """Every mapping anywhere in `node`."""
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _schemas(node):
    """Every schema object in `node`: the names under `properties` and `definitions` are field and definition
    names (a GAN regime's `discriminator` field), not keywords, so only their values are schemas."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            yield from (s for v in value.values() for s in _schemas(v)) if key in ("properties", "definitions") \
                else _schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value)


def test_schema_is_valid_draft_07_without_later_keywords(schema):
    assert schema["$schema"] == DRAFT_07
    jsonschema.Draft7Validator.check_schema(schema)
    later = {"$defs", "prefixItems", "discriminator", "unevaluatedProperties", "dependentRequired",
             "dependentSchemas", "$anchor", "$dynamicRef", "minContains", "maxContains"}
    assert not [later & set(node) for node in _schemas(schema) if later & set(node)]
    for ref in {node["$ref"] for node in _walk(schema) if "$ref" in node}:
        assert ref.startswith(DEFS) and ref.removeprefix(DEFS) in schema["definitions"], ref


def test_every_op_is_an_enum_choice_with_its_own_closed_schema(schema):
    defs = schema["definitions"]
    op_node = defs["OpNode"]
    assert op_node["properties"]["op"]["else"]["enum"] == sorted(LAYERS)
    cases = {c["if"]["properties"]["op"]["const"]: c["then"]["$ref"] for c in op_node["allOf"]}
    assert set(cases) == set(LAYERS)
    for op, ref in cases.items():
        card = defs[ref.removeprefix(DEFS)]
        assert card["additionalProperties"] is False, op
        assert {"op", "id", "from", "repeat", "when"} <= set(card["properties"]), op


def test_every_property_is_documented(schema):
    undocumented = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "if":
                    continue  # conditions, not fields
                if key == "properties":
                    undocumented.extend(f"{path}.{k}" for k, v in value.items()
                                        if not v.get("description"))
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(schema, "")
    assert not undocumented
    assert schema["description"] and schema["markdownDescription"] == schema["description"]


def test_block_param_types_match_the_expander():
    from nnspec.specs.expand import _PARAM_TYPES

    assert set(PARAM_TYPES) == set(_PARAM_TYPES)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_spec_validates(validator, path):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, best_match(errors).message


@pytest.mark.parametrize("op", sorted(LAYERS))
def test_every_card_example_validates_as_a_node(schema, op):
    node = jsonschema.Draft7Validator({"$ref": DEFS + "Node", "definitions": schema["definitions"]})
    for example in LAYERS[op].examples:
        errors = list(node.iter_errors({"op": op, **example.params}))
        assert not errors, f"{example.params}: {best_match(errors).message}"


@pytest.mark.parametrize("text", [AUTHORING, PATCH, GOOD], ids=["authoring", "extends", "plain"])
def test_the_authoring_language_validates(validator, text):
    errors = list(validator.iter_errors(yaml.safe_load(text)))
    assert not errors, best_match(errors).message


DROP = object()

# (what is wrong, the key path in GOOD to change, its new value or DROP, where the error is
#  reported, words its message must contain)
BROKEN = [
    ("misspelt op", "nodes.0.op", "conv2dd", "nodes/0/op", "'conv2dd' is not one of|'conv2d'"),
    ("misspelt conv2d field", "nodes.0.kernal_size", 3, "nodes/0", "'kernal_size' was unexpected"),
    ("units not an int", "nodes.2.units", "ten", "nodes/2/units", "'ten' is not of type 'integer'"),
    ("missing inputs", "inputs", DROP, "", "'inputs' is a required property"),
    ("unknown top-level key", "ouputs", ["logits"], "", "'ouputs' was unexpected"),
    ("bad dtype", "inputs.image.dtype", "float63", "inputs/image/dtype",
     "'float63' is not one of|'float32'"),
    ("negative filters", "nodes.0.filters", -3, "nodes/0/filters", "-3 is less than|minimum of 0"),
    ("from is a number", "nodes.1.from", 5, "nodes/1/from", "5 is not of type 'string', 'array'"),
    ("repeat 0", "nodes.1.repeat", 0, "nodes/1/repeat", "0 is less than the minimum of 1"),
    ("train.loss missing", "train.loss", DROP, "train", "'loss' is a required property"),
    ("unknown optimizer", "train.optimizer", "adamm", "train/optimizer",
     "'adamm' is not one of|'adam'"),
    ("unknown optimizer name", "train.optimizer", {"name": "adamm"}, "train/optimizer/name",
     "'adamm' is not one of"),
    ("extra key in an input", "inputs.image.dtpye", "int32", "inputs/image",
     "'dtpye' was unexpected"),
    ("misspelt activation", "nodes.2.activation", "relux", "nodes/2/activation",
     "'relux' is not one of|'relu'"),
    ("when is a number", "nodes.0.when", 3, "nodes/0/when", "3 is not of type 'boolean'"),
    ("missing filters", "nodes.0.filters", DROP, "nodes/0", "'filters' is a required property"),
    ("node without op", "nodes.0.op", DROP, "nodes/0", "'op' is a required property"),
    ("misspelt dataset", "train.data", "digitz", "train/data", "'digitz' is not one of"),
    ("misspelt dataset option", "train.data", {"name": "sine_waves", "sampels": 9}, "train/data",
     "'sampels' was unexpected"),
    ("nodes patch without extends", "nodes", {"logits": {"units": 3}}, "nodes",
     "is not of type 'array'"),
    ("id with a space", "nodes.0.id", "my conv", "nodes/0/id", "'my conv' does not match"),
    ("unknown block key", "blocks", {"b": {"nodes": [{"op": "relu"}], "outputz": ["x"]}},
     "blocks/b", "'outputz' was unexpected"),
    ("kernel of three sides", "nodes.0.kernel_size", [3, 3, 3], "nodes/0/kernel_size", "too long"),
]


def _broken(path: str, value):
    spec = copy.deepcopy(yaml.safe_load(GOOD))
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = spec
    for key in parents:
        target = target[key]
    if value is DROP:
        del target[last]
    else:
        target[last] = value
    return spec


@pytest.mark.parametrize("problem, path, value, where, words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_specs_fail_with_a_message_naming_the_problem(validator, problem, path, value,
                                                            where, words):
    error = best_match(validator.iter_errors(_broken(path, value)))
    assert error is not None, f"{problem}: accepted"
    assert "/".join(map(str, error.absolute_path)) == where, error.message
    for word in words.split("|"):
        assert word in error.message, error.message


def test_a_misspelt_field_in_a_block_is_reported_for_its_op(validator):
    spec = yaml.safe_load(AUTHORING)
    spec["blocks"]["basic"]["nodes"][1]["momentun"] = 0.9
    error = best_match(validator.iter_errors(spec))
    assert list(error.absolute_path) == ["blocks", "basic", "nodes", 1]
    assert "'momentun' was unexpected" in error.message


def test_cli_prints_the_schema_and_writes_it_whole(tmp_path):
    printed = CliRunner().invoke(main, ["schema"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == nnspec.api.schema()
    out = tmp_path / "editor" / "nnspec.schema.json"
    written = CliRunner().invoke(main, ["schema", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text(encoding="utf-8")) == nnspec.api.schema()
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left over
