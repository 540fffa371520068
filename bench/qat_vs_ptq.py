"""Quantization-aware training against post-training static quantization, on the same trained runs.

For each model and weight width (int8, and int4 kernels with uint8 activations) it reports the test accuracy of:
- float:      the trained run (its ONNX export);
- ptq:        post-training static quantization of that run (`nnspec.runtime.qat`'s comparison: the quantizer of
              `nnspec quantize --mode static`, or its int4-kernel variant);
- control:    the run fine-tuned exactly as QAT fine-tunes it (epochs, starting rate, cosine decay, data) but with
              no fake quantization, then quantized the same way; it separates what QAT gains from what a few more
              epochs at a low rate gain;
- qat:        `qat_run`'s export; `sim_agree` is how often the fake-quantized Keras model and the export agree.
Runs are trained once and cached under --cache. `narrow_cnn` (8/8/16 filters) is the small model where int4
post-training quantization loses accuracy; it is trained with several seeds since its test split is 360 images.
`mobile_cnn` is MobileNet-style (depthwise-separable, no batch norm), whose depthwise kernels QAT quantizes too.
`wine_raw` is an MLP on scikit-learn's wine measurements left unstandardized (a CSV written from scikit-learn with
`standardize: false`): the features span 0.13 to 1680, and the int8 export quantizes the graph input with one
uint8 scale (about 6.6), which crushes most of them; it is the one setting found where post-training int8 loses
accuracy (its test split is 36 wines, one wine is 2.8 points), and it is trained with several seeds.
Run: python bench/qat_vs_ptq.py [--models digits_cnn,resnet_small,narrow_cnn,wine_raw] [--seeds 0,1,2] [--epochs 2]
A subset of --models writes qat_vs_ptq_<models>.json/.md instead of replacing the full results.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import RESULTS, write_result  # noqa: E402

NARROW = """
nnspec: 1
name: narrow_cnn
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {op: conv2d, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {op: max_pool2d, pool_size: 2}
  - {op: conv2d, filters: 16, kernel_size: 3, padding: same, activation: relu}
  - {op: global_avg_pool2d}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.003}
  schedule: cosine
  epochs: 40
  batch_size: 32
  test_split: 0.2
  seed: 0
"""
MOBILE = """
nnspec: 1
name: mobile_cnn
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 16, kernel_size: 3, padding: same}
  - {op: relu}
  - {op: depthwise_conv2d, kernel_size: 3, padding: same}
  - {op: relu}
  - {op: conv2d, filters: 32, kernel_size: 1}
  - {op: relu}
  - {op: depthwise_conv2d, kernel_size: 3, strides: 2, padding: same}
  - {op: relu}
  - {op: conv2d, filters: 64, kernel_size: 1}
  - {op: relu}
  - {op: global_avg_pool2d}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.003}
  schedule: cosine
  epochs: 30
  batch_size: 32
  test_split: 0.2
  seed: 0
"""
WINE_RAW = """
nnspec: 1
name: wine_raw
inputs:
  features: {shape: [13]}
nodes:
  - {op: dense, units: 32, activation: relu}
  - {op: dense, units: 32, activation: relu}
  - {id: cultivar, op: dense, units: 3}
train:
  data: {name: csv, path: @WINE_CSV@, label: cultivar, standardize: false}
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.003}
  metrics: [accuracy]
  epochs: 100
  batch_size: 16
  test_split: 0.2
  seed: 0
"""
MODELS = {"digits_cnn": "example:digits_cnn", "resnet_small": "example:resnet_small", "narrow_cnn": NARROW,
          "mobile_cnn": MOBILE, "wine_raw": WINE_RAW}
SEEDED = ("narrow_cnn", "wine_raw")
"""Models trained with every --seeds seed (small test splits); the others use seed 0."""


def _wine_csv() -> Path:
    """scikit-learn's wine table, raw (unstandardized), as a CSV with a `cultivar` label column."""
    import csv

    from sklearn.datasets import load_wine

    path = Path(tempfile.gettempdir()) / "nnspec-bench-wine-raw.csv"
    if not path.is_file():
        raw = load_wine()
        with open(path, "w", newline="") as f:
            rows = csv.writer(f)
            rows.writerow([n.replace("/", "_") for n in raw.feature_names] + ["cultivar"])
            rows.writerows([*map(repr, map(float, x)), int(y)] for x, y in zip(raw.data, raw.target))
    return path


def _spec(model: str, seed: int, overrides: tuple[str, ...] = ()):
    from nnspec import api

    ref = MODELS[model]
    if not ref.startswith("example:"):  # an inline spec: through a file, so `--set`-style overrides apply
        path = Path(tempfile.gettempdir()) / f"nnspec-bench-{model}.yaml"
        path.write_text(ref.replace("@WINE_CSV@", str(_wine_csv())) if "@WINE_CSV@" in ref else ref)
        ref = path
    return api.load_spec(ref, [f"train.seed={seed}", *overrides])


def _run(cache: Path, model: str, seed: int) -> Path:
    from nnspec import api

    out = cache / f"{model}-seed{seed}"
    if not out.is_dir():
        api.train(_spec(model, seed), out, verbose=0)
    return out


def _control(cache: Path, model: str, seed: int, run: Path, epochs: int) -> Path:
    """The run fine-tuned as QAT fine-tunes it, without fake quantization."""
    from nnspec import api
    from nnspec.runtime.qat import LEARNING_RATE_FRACTION

    out = cache / f"{model}-seed{seed}-control{epochs}"
    if not out.is_dir():
        spec = _spec(model, seed)
        rate = spec.train.optimizer.learning_rate * LEARNING_RATE_FRACTION
        spec = _spec(model, seed, (f"train.epochs={epochs}", f"train.optimizer.learning_rate={rate}",
                                   "train.schedule=cosine"))
        api.train(spec, out, verbose=0, init_weights=run)
    return out


def _case(cache: Path, model: str, seed: int, bits: int, epochs: int, tmp: Path) -> dict:
    from nnspec.runtime.qat import qat_run

    run = _run(cache, model, seed)
    start = time.perf_counter()
    qat = qat_run(run, tmp / f"{model}-{seed}-{bits}.onnx", epochs=epochs, weight_bits=bits)
    seconds = time.perf_counter() - start
    control = qat_run(_control(cache, model, seed, run, epochs), tmp / "control.onnx", epochs=1, weight_bits=bits)
    return {"model": model, "seed": seed, "weight_bits": bits, "epochs": epochs, "examples": qat.examples,
            "float": qat.float_accuracy, "ptq": qat.ptq_accuracy, "control": control.ptq_accuracy,
            "qat_float": qat.qat_float_accuracy, "qat": qat.accuracy, "sim_agree": qat.agreement,
            "qat_seconds": round(seconds, 1), "size_bytes": qat.size_bytes}


NOTE = """# QAT vs post-training static quantization (test accuracy, 360 digits test images; wine: 36)

`python bench/qat_vs_ptq.py`. int8: int8 per-channel kernels, uint8 activations (`nnspec quantize --mode
static`). int4: int4 per-channel kernels, uint8 activations. PTQ quantizes the trained run; control fine-tunes it
as QAT does (2 epochs, a tenth of the spec's rate, cosine) without fake quantization, then quantizes it; QAT is
`qat_run`. `sim agree`: share of test images where the fake-quantized Keras model and the exported ONNX model
predict the same class. One test image is 0.28 points.

"""


def _markdown(rows: list[dict]) -> str:
    head = "| model | seed | weights | float | PTQ | control | QAT | QAT - PTQ | sim agree |\n|" + "---|" * 9
    lines = [NOTE + head]
    for r in rows:
        lines.append(f"| {r['model']} | {r['seed']} | int{r['weight_bits']} | {r['float']:.4f} | {r['ptq']:.4f} | "
                     f"{r['control']:.4f} | {r['qat']:.4f} | {(r['qat'] - r['ptq']) * 100:+.2f} pt | "
                     f"{r['sim_agree']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", default="0", help=f"training seeds for {', '.join(SEEDED)} (the others use "
                        "seed 0)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "nnspec-bench-qat")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnspec-qat-bench-") as folder:
        for model in args.models.split(","):
            seeds = [int(s) for s in args.seeds.split(",")] if model in SEEDED else [0]
            for seed in seeds:
                for bits in (8, 4):
                    rows.append(_case(args.cache, model, seed, bits, args.epochs, Path(folder)))
                    print(rows[-1], flush=True)
    models = args.models.split(",")
    name = "qat_vs_ptq" if set(models) >= set(MODELS) else "qat_vs_ptq_" + "_".join(models)
    write_result(name, {"rows": rows})
    (RESULTS / f"{name}.md").write_text(_markdown(rows))


if __name__ == "__main__":
    main()
