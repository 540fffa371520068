"""Every example is checked, built with the parameter count the compiler predicts, trained briefly, and exported
to an ONNX file that agrees with the trained Keras model (the same path `nnspec demo` takes)."""

from __future__ import annotations

import json

import onnx
import pytest

import nnspec

from ..conftest import EXAMPLES

pytestmark = [pytest.mark.keras, pytest.mark.onnx]
# The supervised examples; the special regimes' examples (VAE, GAN, distillation) have tests of their own.
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml")
               if (s := nnspec.load_spec(p)).train is not None and s.train.regime.name == "supervised")


@pytest.mark.parametrize("name", NAMES)
def test_example_trains_and_exports_with_parity(name, tmp_path):
    spec = nnspec.load_spec(f"example:{name}")
    info = nnspec.summary(spec)
    model = nnspec.build_keras(spec)
    assert model.count_params() == info["params"]

    run = nnspec.train(spec, tmp_path / "run", epochs=2, verbose=0)
    assert sorted(p.name for p in run.run_dir.iterdir()) == ["curves.png", "history.csv", "history.json",
                                                              "metrics.json", "model.keras", "spec.yaml"]
    history = json.loads((run.run_dir / "history.json").read_text())
    assert len(history["loss"]) == 2
    assert set(run.metrics) >= {"train", "validation", "test"}

    report = nnspec.export_onnx(run.run_dir, tmp_path / f"{name}.onnx")
    assert report.max_abs_diff <= 1e-4
    exported = onnx.load(str(tmp_path / f"{name}.onnx"))
    assert [i.name for i in exported.graph.input] == list(spec.inputs)
    assert exported.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    meta = {p.key: p.value for p in exported.metadata_props}
    assert meta["nnspec.spec_name"] == spec.name
