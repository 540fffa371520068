"""The demo model: ONNX export time, and onnxruntime vs Keras inference latency at batch 1 and 32.

Both engines run in one process on the same inputs; Keras is timed both as an eager call (`model(x)`) and as a
compiled `tf.function`, so the comparison is fair to it. Run: python bench/export_latency.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import interleaved, write_result  # noqa: E402


def main(repeats: int = 200) -> None:
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    import nnspec

    model = nnspec.build_keras("example:digits_cnn", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "digits_cnn.onnx"
        exports = [nnspec.export_onnx("example:digits_cnn", out) for _ in range(3)]
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    compiled = tf.function(lambda x: model(x, training=False), jit_compile=False)
    results = {}
    for batch in (1, 32):
        x = np.random.default_rng(0).standard_normal((batch, 8, 8, 1)).astype("float32")
        t = interleaved({
            "onnxruntime": lambda: session.run(None, {name: x}),
            "keras_eager_call": lambda: model(x, training=False),
            "keras_tf_function": lambda: compiled(x),
        }, repeats=repeats, warmup=10)
        results[f"batch_{batch}"] = {
            **{k: v["median_s"] * 1e3 for k, v in t.items()},
            "ratio_keras_tf_function_over_onnxruntime": t["keras_tf_function"]["median_s"]
            / t["onnxruntime"]["median_s"],
        }
    write_result("export_latency", {
        "model": "examples/digits_cnn.yaml (untrained weights, seed 0)",
        "export_seconds": [round(e.export_seconds, 3) for e in exports],
        "onnx_bytes": exports[0].size_bytes, "max_abs_diff": exports[0].max_abs_diff,
        "latency_ms_median": results,
    })


if __name__ == "__main__":
    main()
