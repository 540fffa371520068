"""One way to open an ONNX file in onnxruntime on the CPU, for export checks, quantization and benchmarks."""

from __future__ import annotations

from pathlib import Path


def cpu_session(path: Path, *, threads: int | None = None):
    """An onnxruntime `InferenceSession` on the CPU with warnings silenced. `threads` pins the intra-op pool (and
    runs one op at a time), for latencies that are steady and close to a small edge CPU; None leaves
    onnxruntime's defaults. Raises whatever onnxruntime raises: callers turn it into their own error."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
