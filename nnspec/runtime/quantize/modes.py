"""The three modes (dynamic, static, fp16), each a call into onnxruntime or onnxconverter-common,
and the `Quantizer` that prepares a float model once and quantizes it as often as the budget needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nnspec.errors import NnspecError
from nnspec.runtime.quantize.compact import compact_file
from nnspec.runtime.quantize.errors import QuantizeError

MODES = ("dynamic", "static", "fp16")
INT8_MODES = ("dynamic", "static")
"""The modes whose files `compact_file` shortens (fp16 files are nearly all weights already)."""
CALIBRATION_BATCH = 32
QUANTIZE_BIAS = False
"""Static mode stores biases as float32 (onnxruntime's `QuantizeBias` option); see compact.py."""
DATA_MOVEMENT_OPS = frozenset({
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Split", "Gather", "GatherElements",
    "Pad", "MaxPool", "TopK", "ArgMax", "Identity",
})  # fmt: skip
"""Ops that pass quantized values through unchanged: never candidates for `exclude_worst`."""


class Quantizer:
    """One float model prepared for one mode, quantized again as often as needed with different exclusions.

    Static mode pre-processes once and calibrates once: the first `write` saves the activation ranges in
    onnxruntime's calibration cache, the later ones read them back.
    """

    def __init__(self, mode: str, source: Path, folder: Path, calib, per_channel: bool, weight_bits: int = 8):
        import onnx

        self.mode, self.source, self.calib, self.per_channel = mode, source, calib, per_channel
        self.weight_bits = weight_bits
        self.folder, self.cache = folder, folder / "calibration.json"
        self.model, self.preprocess = source, "none"
        if mode == "static":
            self.model, self.preprocess = _preprocess(source, folder / "pre.onnx")
        self.model = _name_nodes(self.model, folder / "named.onnx")
        self.nodes = [(n.name, n.op_type) for n in onnx.load(str(self.model)).graph.node]

    def write(self, target: Path, exclude: list[str]) -> None:
        if self.mode == "dynamic":
            _dynamic(self.model, target, self.per_channel, exclude)
        elif self.mode == "static":
            _static(self.model, target, self.calib, self.per_channel, exclude, self.cache, self.weight_bits)
        else:
            _fp16(self.model, target, exclude)
        if self.mode in INT8_MODES:
            compact_file(target, {name for name, _ in self.nodes})

    def candidates(self) -> list[str]:
        """Names of the nodes the mode quantizes that change values (not data movement), in graph order."""
        from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry, QLinearOpsRegistry

        if self.mode == "fp16":  # every op computes in float16
            return [name for name, op in self.nodes if op not in DATA_MOVEMENT_OPS]
        ops = set(IntegerOpsRegistry) if self.mode == "dynamic" else set(QDQRegistry) | set(QLinearOpsRegistry)
        return [name for name, op in self.nodes if op in ops - DATA_MOVEMENT_OPS]

    @property
    def calibration_samples(self) -> int:
        return len(next(iter(self.calib.values()))) if self.mode == "static" else 0


def _dynamic(source: Path, tmp: Path, per_channel: bool, exclude: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _failures("dynamic"):
        quantize_dynamic(str(source), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(exclude))


def _static(source: Path, tmp: Path, calib: dict[str, np.ndarray], per_channel: bool, exclude: list[str],
            cache: Path, weight_bits: int = 8) -> None:
    """Quantize statically in QDQ format (ranges from `cache` when an earlier call calibrated already), with
    int8 kernels (or int4 ones, `weight_bits=4`)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with _failures("static"):
        quantize_static(
            str(source), str(tmp), _Reader(calib), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt4 if weight_bits == 4 else QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(exclude),
            extra_options={"QuantizeBias": QUANTIZE_BIAS}, calibration_cache_path=str(cache),
        )  # fmt: skip


def _preprocess(source: Path, target: Path) -> tuple[Path, str]:
    """onnxruntime's `quant_pre_process` (graph optimization and shape inference), when it can run here."""
    try:
        import sympy  # noqa: F401  (symbolic shape inference needs it)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        return source, f"skipped: quant_pre_process needs sympy ({e})"
    try:
        quant_pre_process(str(source), str(target))
    except Exception as e:  # noqa: BLE001  (a model it cannot handle still quantizes without it)
        return source, f"skipped: quant_pre_process failed ({type(e).__name__}: {e})"
    return target, "quant_pre_process"


def _fp16(source: Path, tmp: Path, exclude: list[str]) -> None:
    import onnx

    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as e:
        raise QuantizeError(f"fp16 mode needs onnxconverter-common (pip install onnxconverter-common): {e}") from e
    with _failures("fp16"):
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                         node_block_list=list(exclude) or None)
        onnx.save(model, str(tmp))


@contextlib.contextmanager
def _failures(mode: str) -> Iterator[None]:
    """Turn whatever the quantizer raises into a `QuantizeError` naming the mode; quiet its root-logger advice."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    except NnspecError:
        raise
    except Exception as e:  # onnxruntime.quantization raises anything from ValueError to its own types
        raise QuantizeError(f"{mode} quantization failed: {type(e).__name__}: {e}; nothing was written") from e
    finally:
        root.setLevel(level)


class _Reader:
    """A `CalibrationDataReader` over dict-of-arrays data, in batches of CALIBRATION_BATCH."""

    def __init__(self, data: dict[str, np.ndarray]):
        n = len(next(iter(data.values())))
        self._batches = iter([{k: v[i:i + CALIBRATION_BATCH] for k, v in data.items()}
                              for i in range(0, n, CALIBRATION_BATCH)])  # fmt: skip

    def get_next(self):
        return next(self._batches, None)


def _name_nodes(model: Path, target: Path) -> Path:
    """The model with every node named (onnxruntime excludes nodes by name); `model` itself when all are."""
    import onnx

    proto = onnx.load(str(model))
    nodes = proto.graph.node
    if all(n.name for n in nodes) and len({n.name for n in nodes}) == len(nodes):
        return model
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)
    onnx.save(proto, str(target))
    return target
