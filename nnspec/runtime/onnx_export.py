"""Verified ONNX export: a spec or a trained run becomes an ONNX file only if it passes every check.

Two ways to convert (`via`): `direct` emits ONNX from the IR and the model's weights (`nnspec.runtime.onnx_emit`,
about half a second for ResNet-50), `tf2onnx` runs Keras 3's own `model.export(format="onnx")` (tf2onnx underneath,
about 24 s for ResNet-50, but it converts any op TensorFlow can). `auto` (the default) is `direct` when the emitter
covers every node, else `tf2onnx`. Either file is then made predictable and checked before it is kept:

- graph inputs carry the spec's input names, in order; graph outputs carry the spec's output node ids;
- axis 0 of every graph input and output is the symbolic dimension `batch`;
- the IR version and opset are stated explicitly (IR ≤ 9, opset ≤ 18), so older runtimes on edge devices load it;
- `metadata_props` name the spec, its sha256 and the nnspec version;
- `onnx.checker` accepts it, and onnxruntime agrees with the Keras model on seeded random inputs within `atol`.

Everything happens in a temporary file beside `out`, renamed into place only at the end: a failed export leaves
no file behind and never replaces a good file already at `out`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.errors import ExportError
from nnspec.layers._registry import LAYERS
from nnspec.runtime.atomic import publish, temp_beside

DEFAULT_OPSET = 18
"""tf2onnx 1.17's highest opset."""
MIN_OPSET = 13
"""The oldest opset nnspec exports to (the one the Keras layers it maps to need)."""
MAX_IR_VERSION = 9
"""onnxruntime builds from 1.15 on (and most edge runtimes) load IR 9; onnx 1.23 would write IR 14."""
BATCH = "batch"
PARITY_BATCH = 4
VARIABLE_AXIS_LEN = 5
"""Length given to a spec's variable-length (`null`) axes in the parity inputs."""
DEFAULT_INT_HIGH = 10
"""Integer inputs are drawn from 0..9 unless an embedding reading them says its vocabulary size."""


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how well it matched Keras."""

    path: Path
    opset: int
    ir_version: int
    size_bytes: int
    max_abs_diff: float
    """Largest |onnxruntime - Keras| over every output on the parity inputs."""
    export_seconds: float
    """Conversion, checks and parity run, not counting loading or building the Keras model."""
    inputs: dict[str, list]
    """Graph input name → shape, axis 0 as `"batch"`, other unknown axes as their symbolic names."""
    outputs: dict[str, list]
    via: str = "tf2onnx"
    """How the file was made: `direct` (emitted from the IR) or `tf2onnx` (converted through TensorFlow)."""
    fallback: tuple[str, ...] = ()
    """Under `via="auto"`, why the direct emitter was not used (the nodes it does not cover); else empty."""


VIAS = ("auto", "direct", "tf2onnx")


def export_onnx(source, out: Path, *, opset: int | None = None, atol: float = 1e-4,
                via: str = "auto") -> ExportReport:
    """Export a spec (a `ModelSpec`, a path or `example:NAME`) or a run directory to a verified ONNX file.

    Args:
        source: What to export. A run directory exports its trained weights; a spec exports freshly initialized
            weights (seeded with the spec's `train.seed`, or 0).
        out: The file to write. Only replaced when every check passes.
        opset: ONNX opset, 13 to 18. Defaults to `18`.
        atol: Largest allowed |onnxruntime - Keras| on seeded random inputs. Defaults to `1e-4`.
        via: `direct` (emit ONNX from the IR and the weights), `tf2onnx` (convert the Keras model through
            TensorFlow), or `auto`: `direct` when the emitter covers every node, else `tf2onnx`.
            Defaults to `auto`.

    Returns:
        The `ExportReport` (its `via` says which way was taken).

    Raises:
        ExportError: conversion failed, `via="direct"` met a node the emitter does not cover, or the file failed
            a check (nothing is written then).
    """
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if not MIN_OPSET <= opset <= DEFAULT_OPSET:
        raise ExportError(f"opset must be between {MIN_OPSET} and {DEFAULT_OPSET}. Received: opset={opset}")
    if via not in VIAS:
        raise ExportError(f"via must be one of {', '.join(VIAS)}. Received: via={via!r}")
    spec, graph, model = _load_source(source)
    how, refused = _choose_path(graph, model, via)
    if how == "tf2onnx":
        _reject_unsupported(graph)
    out = Path(out)
    start = time.perf_counter()
    with temp_beside(out, suffix=".onnx") as tmp:
        import onnx

        if how == "direct":
            proto = _emit(model, graph, opset)
        else:
            _convert(model, graph, tmp, opset)
            proto = onnx.load(str(tmp))
        save_checked(finish_model(proto, spec, graph, opset, check=False), tmp)
        diff = _check_parity_of(how, tmp, model, graph, atol)
        publish(tmp, out)
    return ExportReport(
        path=out, opset=opset, ir_version=proto.ir_version, size_bytes=out.stat().st_size,
        max_abs_diff=diff, export_seconds=time.perf_counter() - start,
        inputs={v.name: _shape_of(v) for v in proto.graph.input},
        outputs={v.name: _shape_of(v) for v in proto.graph.output},
        via=how, fallback=tuple(refused) if how == "tf2onnx" else (),
    )  # fmt: skip


def direct_refusals(graph, model=None) -> list[str]:
    """Why the direct emitter cannot export `graph` (and `model`, when given), one line per reason."""
    from nnspec.runtime.onnx_emit import refusals

    found = refusals(graph)
    if model is not None:
        for layer in model.layers:
            policy = getattr(layer, "dtype_policy", None)
            if policy is not None and type(layer).__name__ != "InputLayer" and policy.compute_dtype != "float32":
                found.append(f"layer '{layer.name}' computes in {policy.compute_dtype} (dtype policy "
                             f"{policy.name}); the emitter writes float32")
    return found


def _choose_path(graph, model, via: str) -> tuple[str, list[str]]:
    """`(direct|tf2onnx, the emitter's refusals)`; `via="direct"` with refusals is an `ExportError`."""
    if via == "tf2onnx":
        return "tf2onnx", []
    refused = direct_refusals(graph, model)
    if refused and via == "direct":
        raise ExportError(f"model '{graph.name}' cannot be exported with via='direct': "
                          + "; ".join(refused) + ". Use via='auto' or via='tf2onnx' (--via on the command line)")
    return ("tf2onnx" if refused else "direct"), refused


def _emit(model, graph, opset: int):
    """The model emitted directly from the IR with the Keras model's weights."""
    from nnspec.runtime.onnx_emit import emit_model
    from nnspec.runtime.weights_io import read_weights

    try:
        return emit_model(graph, read_weights(model, graph), opset=opset)
    except (KeyError, ValueError) as e:
        raise ExportError(f"the direct ONNX emitter failed on model '{graph.name}': {e}. "
                          "Use via='tf2onnx' (--via tf2onnx) to convert through TensorFlow instead") from e


def _check_parity_of(how: str, tmp: Path, model, graph, atol: float) -> float:
    """`check_parity`, naming the direct emitter (and the way around it) when its file is the one that fails."""
    try:
        return check_parity(tmp, model, graph, atol)
    except ExportError as e:
        if how != "direct":
            raise
        raise ExportError(f"{e} (file emitted directly from the IR; via='tf2onnx' converts through "
                          "TensorFlow instead)") from e


def onnx_ops(path: Path) -> set[str]:
    """The op types used in an ONNX file's graph, subgraphs (loop and branch bodies) included."""
    import onnx

    return {node.op_type for node in _all_nodes(onnx.load(str(path)).graph)}


def _reject_unsupported(graph) -> None:
    """Refuse, before any work, what tf2onnx 1.17 is known to mis-convert, naming the node and the fix."""
    for node in graph.order():
        if node.op in ("conv1d", "conv2d", "conv3d") and node.spec.groups > 1:
            # Keras's TF backend runs grouped convs inside tf.function(jit_compile=True), which tf2onnx leaves
            # unconverted (and for conv3d writes group=1). The direct emitter handles them (via='auto'/'direct').
            raise ExportError(
                f"{node.src}: {node.path} '{node.id}' ({node.op}): grouped convolutions (groups > 1) cannot be "
                f"exported to ONNX through tf2onnx 1.17; use via='direct'. Received: groups={node.spec.groups}")


# --- getting the model ------------------------------------------------------------------------------------------


def _load_source(source):
    """`(spec, ir_graph, keras_model)` for a run directory, a `ModelSpec`, a spec path or `example:NAME`."""
    from nnspec import api
    from nnspec.runtime.run_dir import is_run_dir, load_run
    from nnspec.specs.model import ModelSpec

    if not isinstance(source, ModelSpec) and is_run_dir(Path(str(source))):
        spec, model = load_run(Path(str(source)))
        return spec, api.compile_spec(spec), model
    spec = source if isinstance(source, ModelSpec) else api.load_spec(source)
    seed = spec.train.seed if spec.train is not None else 0
    return spec, api.compile_spec(spec), api.build_keras(spec, seed=seed)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence tf2onnx's logging and the warnings Keras's tf2onnx patch raises, for the duration."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _convert(model, graph, path: Path, opset: int) -> None:
    """Run Keras's ONNX export with the spec's input names, dtypes and shapes (batch axis unknown)."""
    import tensorflow as tf

    specs = []
    for name in graph.inputs:
        input_spec = graph.node(name).spec
        specs.append(tf.TensorSpec((None, *input_spec.shape), tf.as_dtype(input_spec.dtype), name=name))
    signature = [specs] if len(specs) > 1 else specs
    _register_missing_converters()
    try:
        with _quiet(), _bounded_einsum_search():
            model.export(str(path), format="onnx", input_signature=signature, opset_version=opset, verbose=False)
    except Exception as e:  # tf2onnx raises anything from ValueError to KeyError on an unsupported graph
        raise ExportError(f"tf2onnx could not convert model '{graph.name}': {type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _bounded_einsum_search(max_letters: int = 5) -> Iterator[None]:
    """Skip tf2onnx's search over letter orders for einsum equations with more than `max_letters` letters.

    tf2onnx rewrites each Einsum into MatMul/Transpose/Reshape nodes and first tries every permutation of the
    equation's letters to find the cheapest (factorial time): attention over rank-4 inputs (7 letters) took
    93 s for one layer. Above `max_letters` the equation is decomposed as written; parity still checks it.
    """
    from tf2onnx.optimizer import einsum_optimizer as eo

    original = eo.optimize_einsum

    def bounded(equation, dtype, optimize=True, **kwargs):
        letters = {c for c in equation if c.isalpha()}
        return original(equation, dtype, optimize=optimize and len(letters) <= max_letters, **kwargs)

    eo.optimize_einsum = bounded
    try:
        yield
    finally:
        eo.optimize_einsum = original


def _register_missing_converters() -> None:
    """Teach tf2onnx TensorFlow ops Keras emits but tf2onnx 1.17 cannot convert (registered once per process).

    `Erfc`: Keras's exact GELU (`approximate=False`, the default of `keras.activations.gelu`) is
    `0.5 * x * erfc(-x / sqrt(2))`; ONNX has `Erf`, so `erfc(x) = 1 - erf(x)`.
    """
    from tf2onnx.handler import tf_op

    if any("Erfc" in by_version for by_version in tf_op.get_opsets().get("", [])):
        return

    class _Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            from onnx.helper import tensor_dtype_to_np_dtype
            from tf2onnx import utils

            node.type = "Erf"
            one = np.array(1, dtype=tensor_dtype_to_np_dtype(ctx.get_dtype(node.output[0])))
            one_name = ctx.make_const(utils.make_name(f"{node.name}/one"), one).output[0]
            ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one_name, node.output[0]])

    tf_op("Erfc")(_Erfc)


# --- making the file predictable -------------------------------------------------------------------------------


def finish_model(proto, spec, graph, opset: int, *, check: bool = True):
    """Name the graph's inputs/outputs after the spec, mark the batch axis, state IR/opset, add metadata, check.

    Mutates and returns `proto` (a `ModelProto` fresh from tf2onnx or the emitter). Raises `ExportError` on
    anything unexpected. `check=False` leaves `onnx.checker` to the caller (`save_checked` checks while saving).
    """
    _reject_unconverted_ops(proto)
    _name_inputs(proto.graph, list(graph.inputs))
    _name_outputs(proto.graph, list(graph.outputs))
    _declare_output_shapes(proto.graph, graph)
    _mark_batch_axis(proto.graph)
    _pin_versions(proto, opset)
    _set_metadata(proto, spec)
    if check:
        _check_model(proto)
    return proto


def save_checked(proto, path: Path) -> None:
    """Serialize `proto` once, have `onnx.checker` accept those bytes, and write them to `path`
    (ResNet-50's 100 MB serialize in about 0.3 s: worth doing once, not twice)."""
    data = proto.SerializeToString()
    _check_model(data)
    Path(path).write_bytes(data)


def _check_model(model) -> None:
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"onnx.checker rejected the exported model: {e}") from e


def _reject_unconverted_ops(proto) -> None:
    """tf2onnx copies TensorFlow ops it cannot convert into the graph as they are; say which, and where."""
    import onnx

    domains = {o.domain: o.version for o in proto.opset_import}
    bad = sorted({f"{n.op_type} (node {n.name})" for n in _all_nodes(proto.graph)
                  if n.domain not in domains or not onnx.defs.has(n.op_type, n.domain)})  # fmt: skip
    if bad:
        raise ExportError(f"tf2onnx could not convert {len(bad)} TensorFlow op(s) to ONNX: {'; '.join(bad)}")


def _name_inputs(g, names: list[str]) -> None:
    initializers = {t.name for t in g.initializer}
    inputs = [v for v in g.input if v.name not in initializers]
    if len(inputs) != len(names):
        raise ExportError(f"exported graph has inputs {[v.name for v in inputs]}, but the spec declares {names} "
                          "(a layer added graph inputs of its own)")
    for value, name in zip(inputs, names):
        if value.name != name:
            _rename_tensor(g, value.name, name)


def _name_outputs(g, names: list[str]) -> None:
    if len(g.output) != len(names):
        raise ExportError(f"exported graph has {len(g.output)} outputs, but the spec declares {names}")
    import onnx

    inputs = {v.name for v in g.input}
    for value, name in zip(g.output, names):
        old = value.name
        if old == name:
            continue
        if old in inputs or sum(v.name == old for v in g.output) > 1:  # pass-through or repeated: own tensor
            g.node.append(onnx.helper.make_node("Identity", [old], [name], name=f"{name}/output"))
            value.name = name
        else:
            _rename_tensor(g, old, name)


def _rename_tensor(g, old: str, new: str) -> None:
    """Rename tensor `old` to `new` everywhere it appears: nodes, graph inputs/outputs, value_info, subgraphs."""
    if new in _tensor_names(g):
        raise ExportError(f"cannot name graph tensor {old!r} as {new!r}: the exported graph already has a {new!r}")
    for value in [*g.input, *g.output, *g.value_info]:
        if value.name == old:
            value.name = new
    for tensor in g.initializer:
        if tensor.name == old:
            tensor.name = new
    for node in _all_nodes(g):
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]


def _tensor_names(g) -> set[str]:
    names = {v.name for v in [*g.input, *g.output, *g.value_info]} | {t.name for t in g.initializer}
    for node in _all_nodes(g):
        names.update(node.input)
        names.update(node.output)
    return names


def _all_nodes(g):
    """Every node of a graph and of the subgraphs in its nodes' attributes (Loop, If, Scan bodies)."""
    for node in g.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _all_nodes(attr.g)
            for sub in attr.graphs:
                yield from _all_nodes(sub)


def _declare_output_shapes(g, graph) -> None:
    """Fill in output dimensions tf2onnx lost (einsum rewrites, reshapes) from the shapes the compiler inferred.

    Only unknown dimensions are filled; the parity run then checks the real output shapes against Keras.
    """
    for value, name in zip(g.output, graph.outputs):
        out = graph.node(name).out
        if out is None:
            continue
        shape = value.type.tensor_type.shape
        if not shape.dim:
            for _ in out.shape:
                shape.dim.add()
        if len(shape.dim) != len(out.shape):
            raise ExportError(f"output '{name}' has rank {len(shape.dim)} in ONNX, {len(out.shape)} in the spec")
        for dim, size in zip(list(shape.dim)[1:], out.shape[1:]):
            if size is not None and not dim.HasField("dim_value"):
                dim.dim_value = size


def _mark_batch_axis(g) -> None:
    """Axis 0 of every graph input and output becomes `batch`, and so does that symbol in value_info."""
    old_symbols = set()
    for value in [*g.input, *g.output]:
        dims = value.type.tensor_type.shape.dim
        if not dims:
            raise ExportError(f"graph tensor {value.name!r} has no batch axis (rank 0 or unknown rank)")
        if dims[0].HasField("dim_param"):
            old_symbols.add(dims[0].dim_param)
        dims[0].dim_param = BATCH  # setting the oneof clears dim_value
    for value in g.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in old_symbols:
                dim.dim_param = BATCH


def _pin_versions(proto, opset: int) -> None:
    """State the IR version and the default-domain opset explicitly, keeping IR ≤ 9."""
    import onnx

    default = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if len(default) != 1 or default[0].version != opset:
        found = [(o.domain, o.version) for o in proto.opset_import]
        raise ExportError(f"tf2onnx wrote opsets {found}, but opset {opset} was requested")
    ir = proto.ir_version or onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    if ir > MAX_IR_VERSION:
        ir = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    if ir > MAX_IR_VERSION:
        raise ExportError(f"opset {opset} needs IR version {ir}, above the {MAX_IR_VERSION} nnspec writes")
    proto.ir_version = ir


def _set_metadata(proto, spec) -> None:
    """Record which spec (name and sha256 of its text) and which nnspec made the file; tf2onnx's producer stays."""
    import nnspec
    from nnspec.specs.load import spec_sha256

    ours = {
        "nnspec.spec_name": spec.name,
        "nnspec.spec_sha256": spec_sha256(spec),
        "nnspec.version": nnspec.__version__,
    }
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in ours]
    del proto.metadata_props[:]
    for key, value in [*kept, *ours.items()]:
        proto.metadata_props.add(key=key, value=value)


def _shape_of(value) -> list:
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in value.type.tensor_type.shape.dim]  # fmt: skip


# --- parity ----------------------------------------------------------------------------------------------------


def parity_inputs(graph, batch: int = PARITY_BATCH, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs for every graph input: normal floats, or integers in a valid index range."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        input_spec = graph.node(name).spec
        shape = (batch, *(VARIABLE_AXIS_LEN if d is None else d for d in input_spec.shape))
        if input_spec.dtype.startswith("int"):
            feeds[name] = rng.integers(0, _int_high(graph, name), size=shape).astype(input_spec.dtype)
        else:
            feeds[name] = rng.standard_normal(shape).astype(input_spec.dtype)
    return feeds


def _int_high(graph, name: str) -> int:
    """The exclusive upper bound for integer input `name`: the smallest bound its readers' cards give for it
    (an embedding's `input_dim`, a gather's node count)."""
    bounds = []
    for c in graph.consumers(name):
        node = graph.node(c)
        rule = LAYERS[node.op].index_bounds
        if rule is None:
            continue
        limits = rule(node.spec, graph.input_types(c))
        bounds += [limits[port] for port, (src, _) in enumerate(graph.sources(c)) if src == name and port in limits]
    return min(bounds) if bounds else DEFAULT_INT_HIGH


def check_parity(path: Path, model, graph, atol: float) -> float:
    """Largest |onnxruntime - Keras| over all outputs on `parity_inputs`. Raises `ExportError` above `atol`."""
    feeds = parity_inputs(graph)
    got = run_onnx(path, feeds)
    want = _run_keras(model, [feeds[n] for n in graph.inputs])
    diff = 0.0
    for name, a, b in zip(graph.outputs, got, want):
        if a.shape != b.shape:
            raise ExportError(f"output '{name}': onnxruntime gives shape {a.shape}, Keras {b.shape}")
        diff = max(diff, _max_abs_diff(a, b))
    if not diff <= atol:
        raise ExportError(f"onnxruntime and Keras disagree: max |difference| = {diff:.3g} over outputs "
                          f"{list(graph.outputs)}, above the limit atol={atol:g}; no file was written")
    return diff


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX file with onnxruntime on the CPU."""
    from nnspec.runtime.ort_session import cpu_session

    try:
        return cpu_session(path).run(None, feeds)
    except Exception as e:  # onnxruntime raises its own exception types for load and run failures
        raise ExportError(f"onnxruntime could not run the exported model: {e}") from e


def _run_keras(model, xs: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    ys = model(xs if len(xs) > 1 else xs[0], training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    return [keras.ops.convert_to_numpy(y) for y in ys]


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, with NaN where only one side is NaN counting as infinitely far (NaN in both as equal)."""
    if a.size == 0:
        return 0.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf
        d = np.abs(a64 - b64)
    d[np.isnan(a64) & np.isnan(b64)] = 0.0
    d[(a64 == b64)] = 0.0  # equal infinities
    return float(np.nan_to_num(d, nan=np.inf).max())
