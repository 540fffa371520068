"""`nnspec bench`: every deployable form of a model measured side by side, in one process, on the same data.

    result = bench_run(Path("runs/digits"), Path("bench/digits"))                 # Keras, fp32 and 3 quantized
    result = bench_run(Path("runs/digits"), Path("out"), extra=[Path("runs/digits_pruned"), Path("m.tflite")])
    result = bench_run(Path("model.onnx"), Path("out"), data="digits")            # ORT rows only

Variants (one row each):
    keras        the run's model.keras, called as a compiled `tf.function(model(x, training=False))` (the graph
                 that serving and `model.predict` run, not an eager call, whose Python overhead would dominate).
                 Its size is the file's, which holds the optimizer's state too when training saved it.
    fp32         the float ONNX file `export_onnx` writes (checked against Keras by its parity gate).
    dynamic, static, fp16
                 `nnspec.runtime.quantize.quantize` of that file (static: calibrated on the run's training part).
    litert       on request (not a default mode): the run's full-integer `.tflite` from
                 `nnspec.runtime.litert.quantize_litert`, run in ai-edge-litert.
    extra runs   each run directory in `extra` (e.g. a pruned run) gets the same rows, prefixed by its folder name.
    extra files  named by file name; `.onnx` files run in onnxruntime, `.tflite` files in ai-edge-litert's
                 `Interpreter` (int8 or uint8 inputs are quantized and outputs dequantized with the tensors'
                 scale and zero point).
    An ONNX source (instead of a run) is the fp32 row; it gets dynamic and fp16 rows (static and litert need a
    run's training data to calibrate on, so they are skipped and say so).

Columns:
    size_bytes     the file (model.keras for Keras); size_ratio = fp32 ONNX size / size (above 1: smaller).
    gzip_bytes     the file gzip-compressed: the download size, where pruned zeros and clustered weights show.
    p50_ms, p90_ms batch-1 latency percentiles; throughput_eps = 32 / median time of a batch-32 call (examples/s).
    accuracy       on the run's own test split, recomputed as training made it (what `nnspec eval` reports), or
                   on `data` (same syntax as `nnspec eval --data`); the first classifier output's accuracy.
                   `None` for models with no classifier output, and for an ONNX source without `data`.
    accuracy_delta_points  (accuracy - Keras float accuracy) x 100; against the fp32 row when there is no Keras.

Measurement: every variant is loaded first, then all are timed interleaved (each round calls every variant once,
in a shuffled order; see `latency.interleaved_ms`), so load drift on a shared machine hits all alike. onnxruntime
and LiteRT use `threads` intra-op threads (default 1: steady, and close to a small edge CPU); TensorFlow's
intra-op pool is set to the same when it is not yet initialized in this process (the JSON's `keras_threads`
says whether it was). Inputs are the first 1 and 32 evaluation examples (seeded random inputs without data).

Output (in `out_dir`, created if missing; each file written whole): `bench.json` (the returned dict),
`bench.md` (the table), and the variant files `<label>.<variant>.onnx` (and `<label>.int8.tflite`), kept so
you can deploy the one you pick (`<label>` is the run's folder name, or the ONNX source's stem).

Modules (one job each):
    bench       `bench_run`: build every variant, measure them, write the result.
    options     the caller's choices checked; what each path is; row labels; TensorFlow's threads.
    eval_set    `EvalSet`: the data every variant is measured on.
    variant     `Variant` (one row) and the batching helpers its calls share.
    build       the variants of one source (Keras, fp32, quantized, LiteRT) or one compared file.
    keras_run, ort_run, litert_run
                a Keras model, an ONNX file, a `.tflite` file as a variant.
    measure     accuracy, then interleaved batch-1 and batch-32 timings.
    report      rows, bench.json and bench.md.
    errors      `BenchInputError`.
"""

from __future__ import annotations

from nnspec.runtime.deploy_bench.bench import bench_run
from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.eval_set import RANDOM_EXAMPLES, EvalSet
from nnspec.runtime.deploy_bench.measure import LATENCY_BATCH, THROUGHPUT_BATCH, WARMUP
from nnspec.runtime.deploy_bench.options import (
    BASE_VARIANTS, DEFAULT_REPEATS, FORMATS, MODES, QUANTIZE_MODES,
)  # fmt: skip
from nnspec.runtime.deploy_bench.report import markdown
from nnspec.runtime.deploy_bench.variant import PREDICT_BATCH, Variant

__all__ = [
    "BASE_VARIANTS", "DEFAULT_REPEATS", "FORMATS", "LATENCY_BATCH", "MODES", "PREDICT_BATCH",
    "QUANTIZE_MODES", "RANDOM_EXAMPLES", "THROUGHPUT_BATCH", "WARMUP", "BenchInputError", "EvalSet",
    "Variant", "bench_run", "markdown",
]
