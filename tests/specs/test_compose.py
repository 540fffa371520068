"""extends (deep merge, node patches by id, cycles) and --set overrides, with positions kept through both."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnspec
from nnspec.errors import SpecError
from nnspec.specs.load import load_spec
from nnspec.specs.resolve import resolved_data
from nnspec.specs.wiring import wire

from ..conftest import EXAMPLES

BASE = """\
name: base
params: {width: 8, classes: 3}
inputs: {x: {shape: [16]}}
nodes:
  - {op: dense, units: "${width}", activation: relu}
  - {id: drop, op: dropout, rate: 0.5}
  - {op: dense, units: "${width}"}
  - {id: head, op: dense, units: "${classes}"}
train: {data: iris, loss: sparse_categorical_crossentropy, epochs: 5}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def nodes_of(spec) -> dict:
    return {w.id: (node.op, w.inputs) for w, node in zip(wire(spec), spec.nodes)}


def test_child_params_and_train_merge_key_by_key(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\nparams: {width: 4}\n"
                                          "train: {epochs: 9}\n")
    spec = load_spec(child)
    assert spec.name == "child"
    assert [n.units for n in spec.nodes if n.op == "dense"] == [4, 4, 3]  # classes inherited
    assert spec.train.epochs == 9 and spec.train.data.name == "iris"  # the rest of train inherited
    assert not spec.standalone


def test_node_patches_merge_replace_remove_and_insert_by_id(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
extends: base.yaml
nodes:
  head: {units: 7}
  drop: null
  dense_2: {op: gelu}
  extra: {after: dense_1, op: layer_norm}
""")
    got = nodes_of(load_spec(child))
    assert got == {
        "dense_1": ("dense", ("x",)),
        "extra": ("layer_norm", ("dense_1",)),
        "dense_2": ("gelu", ("extra",)),  # replaced by another op, keeps its (generated) id
        "head": ("dense", ("dense_2",)),
    }
    assert load_spec(child).nodes[-1].units == 7


def test_a_patch_naming_no_node_suggests_the_closest(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nnodes:\n  haed: {units: 2}\n")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    assert "child.yaml:3:3: nodes.haed: the base spec has no node with id 'haed'. Did you mean 'head'?" in str(
        info.value)


def test_diagnostics_point_into_the_file_each_value_came_from(tmp_path):
    write(tmp_path, "base.yaml", BASE.replace("rate: 0.5", "rate: 1.5"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nparams: {width: 4}\nnodes:\n  head: {units: 0}\n")
    with pytest.raises(SpecError) as info:
        load_spec(child)
    text = str(info.value)
    assert "base.yaml:6:29: nodes[1].rate:" in text
    assert "child.yaml:4:10: nodes[3].units:" in text


def test_extends_cycles_and_missing_bases_are_errors(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(SpecError, match="`extends` forms a cycle"):
        load_spec(tmp_path / "a.yaml")
    write(tmp_path, "c.yaml", "extends: nowhere.yaml\nname: c\n")
    with pytest.raises(SpecError, match="cannot read the base spec"):
        load_spec(tmp_path / "c.yaml")


def test_extends_a_bundled_example(tmp_path):
    child = write(tmp_path, "mine.yaml", "extends: example:iris_mlp\nname: mine\nnodes:\n  dense_2: null\n")
    spec = load_spec(child)
    assert [n.id for n in spec.nodes] == ["dense_1", "species"]


def test_set_overrides_values_lists_by_index_and_nodes_by_id(tmp_path):
    base = write(tmp_path, "base.yaml", BASE)
    spec = load_spec(base, ("params.width=5", "nodes.head.units=6", "inputs.x.shape.0=12", "train.epochs=2"))
    assert [n.units for n in spec.nodes if n.op == "dense"] == [5, 5, 6]
    assert spec.inputs["x"].shape == [12] and spec.train.epochs == 2


@pytest.mark.parametrize("override,fragment", [
    ("params", "expected KEY.PATH=VALUE"),
    ("nodes.9.units=1", "index 9 is out of range"),
    ("nodes.haed.units=1", "no item with id 'haed'. Did you mean 'head'?"),
    ("name.first=1", "is a str, not a mapping or list"),
    ("params.width=[1", "not valid YAML"),
])
def test_bad_overrides_are_diagnostics(tmp_path, override, fragment):
    base = write(tmp_path, "base.yaml", BASE)
    with pytest.raises(SpecError) as info:
        load_spec(base, (override,))
    assert f"--set {override}: " in str(info.value) and fragment in str(info.value)


def test_values_set_on_the_command_line_say_so_in_diagnostics(tmp_path):
    base = write(tmp_path, "base.yaml", BASE)
    with pytest.raises(SpecError) as info:
        load_spec(base, ("nodes.head.units=-2",))
    assert "base.yaml:8:27: nodes[3].units: input should be greater than 0. Received: units=-2 " \
           "(set by --set nodes.head.units=-2)" in str(info.value)


def test_extending_with_two_params_changed_equals_setting_them():
    wide = nnspec.load_spec(EXAMPLES / "resnet_small_wide.yaml")
    small = nnspec.load_spec(EXAMPLES / "resnet_small.yaml",
                             ("params.width=32", "params.blocks_per_stage=3", "name=resnet_small_wide"))
    assert resolved_data(wide) == resolved_data(small)
    assert nnspec.summary(wide)["params"] > nnspec.summary(EXAMPLES / "resnet_small.yaml")["params"]


def test_precedence_is_base_then_child_then_set(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nparams: {width: 4}\nnodes:\n  head: {units: 5}\n")
    assert load_spec(child).nodes[0].units == 4
    spec = load_spec(child, ("params.width=2", "nodes.head.units=6"))
    assert spec.nodes[0].units == 2 and spec.nodes[-1].units == 6
    assert load_spec(tmp_path / "base.yaml").nodes[0].units == 8  # the base itself is untouched


def test_set_null_on_a_list_item_removes_it_and_keeps_positions_right(tmp_path):
    base = write(tmp_path, "base.yaml", BASE)
    spec = load_spec(base, ("nodes.drop=null",))
    assert [n.op for n in spec.nodes] == ["dense", "dense", "dense"]
    with pytest.raises(SpecError) as info:
        load_spec(base, ("nodes.drop=null", "nodes.head.units=0"))
    assert "base.yaml:8:27: nodes[2].units: input should be greater than 0. Received: units=0 (set by" in str(
        info.value)  # head moved up; its position and note followed
