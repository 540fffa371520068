"""A `.tflite` file as a variant, run in ai-edge-litert's `Interpreter`; float inputs of int8 or uint8 tensors are
quantized and outputs dequantized with the tensors' scale and zero point (`nnspec.runtime.litert`'s rules).
"""

from __future__ import annotations

from pathlib import Path


from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.eval_set import EvalSet
from nnspec.runtime.deploy_bench.variant import Variant, batched, looped
from nnspec.runtime.litert import dequantize_output, quantize_input


def litert_variant(name, path: Path, evaluation: EvalSet, threads: int) -> Variant:
    interpreter = _litert_interpreter(path, threads)
    details = interpreter.get_input_details()
    feeds = _litert_feeds(path, details, evaluation)
    outputs = interpreter.get_output_details()
    state = {"batch": None}

    def run(x):
        n = len(next(iter(x.values())))
        if state["batch"] != n:
            if not _litert_resize(interpreter, details, n):
                return looped(run, x, state["batch"])
            state["batch"] = n
        for d, key in zip(details, feeds):
            interpreter.set_tensor(d["index"], quantize_input(x[key], d))
        interpreter.invoke()
        return {o["name"]: dequantize_output(interpreter.get_tensor(o["index"]), o) for o in outputs}

    variant = Variant(name, "tflite", path, run, lambda x: batched(run, x, 64), evaluation)
    if len(outputs) > 1 and evaluation.output is not None:
        variant.notes.append("several outputs: accuracy is read from the first")
    return variant


def _litert_interpreter(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BenchInputError(f"measuring {path} needs ai-edge-litert (pip install ai-edge-litert): {exc}") from exc
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BenchInputError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0]}. Received: {path}") from exc
    return interpreter


def _litert_feeds(path: Path, details: list[dict], evaluation: EvalSet) -> list[str]:
    """The evaluation array for each interpreter input: the only one, or the one whose name it contains."""
    if len(details) == 1 and len(evaluation.x) == 1:
        return [next(iter(evaluation.x))]
    keys = []
    for d in details:
        match = [k for k in evaluation.x if k in d["name"]]
        if len(match) != 1:
            raise BenchInputError(f"{path}: cannot tell which data array feeds input '{d['name']}' (data has "
                                  f"{list(evaluation.x)}). Received: {path}")
        keys.append(match[0])
    return keys


def _litert_resize(interpreter, details, n: int) -> bool:
    """Resize every input to batch `n` (models exported with a dynamic batch axis); False if it cannot."""
    try:
        for d in details:
            interpreter.resize_tensor_input(d["index"], [n, *d["shape"][1:]], strict=False)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError):
        return False
    return True
