"""Does the data fit the model? Every way a spec's `train:` section does not fit its model or its dataset, as
diagnostics at the YAML lines of `train.data` and `train.loss`, found before anything heavy happens."""

from __future__ import annotations

from pathlib import Path

from nnspec.compiler.ir import Graph
from nnspec.errors import Diagnostic, SpecError
from nnspec.runtime.data import DATASETS, DataError, Dataset, feature_shape
from nnspec.runtime.objectives import LABEL_LOSSES, losses_by_output, metrics_by_output
from nnspec.specs.load import received
from nnspec.specs.model import ModelSpec
from nnspec.specs.source import format_path
from nnspec.specs.train import CROSSENTROPY, Loss

def check_data(spec: ModelSpec, graph: Graph, data: Dataset, base_dir: Path) -> None:
    """Raise a `SpecError` listing every way the dataset does not fit the model (its inputs, and what the
    regime trains its outputs on) or the regime's options do not fit either."""
    from nnspec.runtime.regimes import regime_for

    regime = regime_for(spec.train.regime.name)
    problems = _check_output_names(spec, graph)
    if not problems:
        if regime.data_are_inputs:
            problems += _check_inputs(spec, graph, data)
        problems += regime.check(spec, graph, data, base_dir)
    if problems:
        raise SpecError(problems)


def check_labels(spec: ModelSpec, graph: Graph, data: Dataset) -> list[Diagnostic]:
    """Outputs trained on class labels have one unit per class (binary crossentropy: one unit, two classes);
    a triplet loss reads (batch, 3, d) embeddings; accuracy is asked only of outputs trained on labels."""
    problems = []
    for name, loss in losses_by_output(spec.train, graph.outputs).items():
        problems += _check_output(spec, graph, data, name, loss)
        shape = graph.node(name).out.shape
        if loss.name == "triplet" and (len(shape) != 3 or shape[1] != 3):
            problems.append(_loss_diagnostic(spec, name, f"the triplet loss reads the anchor, positive and "
                                             f"negative embeddings stacked as (batch, 3, d), but output '{name}' "
                                             f"has shape {_shape_str(shape[1:])}. Concatenate the three and "
                                             "reshape to [3, d]."))
    for name, metrics in metrics_by_output(spec.train, graph.outputs).items():
        loss = losses_by_output(spec.train, graph.outputs).get(name)
        if loss is not None and loss.name not in LABEL_LOSSES and {"accuracy", "top5_accuracy"} & set(metrics):
            path = ("train", "metrics")
            problems.append(Diagnostic(spec.source_map.locate(path), format_path(path),
                                       f"accuracy compares predicted and true classes, but output '{name}' is "
                                       f"trained with {loss.name}, not on class labels. Leave it out. "
                                       f"Received: metrics={metrics}"))
    return problems


def _loss_diagnostic(spec: ModelSpec, name: str, message: str) -> Diagnostic:
    path = ("train", "loss", name) if isinstance(spec.train.loss, dict) else ("train", "loss")
    return Diagnostic(spec.source_map.locate(path), format_path(path), message)


def _check_output_names(spec: ModelSpec, graph: Graph) -> list[Diagnostic]:
    """Per-output losses and metrics name real outputs, and at least one output has a loss."""
    problems = []
    for key in ("loss", "metrics"):
        section = getattr(spec.train, key)
        if not isinstance(section, dict):
            continue
        for name in section:
            if name not in graph.outputs:
                path = ("train", key, name)
                problems.append(Diagnostic(spec.source_map.locate(path), format_path(path),
                                           f"'{name}' is not an output of the model; its outputs are "
                                           f"{', '.join(graph.outputs)}. {received(key, sorted(section))}"))
    if not problems and not losses_by_output(spec.train, graph.outputs):
        path = ("train", "loss")
        problems.append(Diagnostic(spec.source_map.locate(path), format_path(path),
                                   "no output has a loss, so there is nothing to train."))
    return problems


def data_diagnostic(spec: ModelSpec, exc: DataError) -> SpecError:
    """A `DataError` from loading or augmenting the data, at the YAML line of the key it concerns."""
    path = ("train", exc.section, exc.field)
    return SpecError([Diagnostic(spec.source_map.locate(path), format_path(path), exc.message)])


def _data_diagnostic(spec: ModelSpec, message: str) -> Diagnostic:
    path = ("train", "data")
    return Diagnostic(spec.source_map.locate(path), format_path(path),
                      f"{message} {received('data', spec.train.data.name)}")


def _fits(want: tuple, got: tuple) -> bool:
    return len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))


def _check_inputs(spec: ModelSpec, graph: Graph, data: Dataset) -> list[Diagnostic]:
    """One-array data feeds a one-input model; named arrays (graphs: nodes, senders, ...) feed the inputs of the
    same names, each with a fitting shape."""
    if not data.input_names:
        if len(graph.inputs) == 1:
            return _check_input(spec, graph, data)
        return [_data_diagnostic(spec, f"dataset '{data.name}' gives one array of shape {data.feature_shape}, but "
                                 f"the model has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}).")]
    problems = []
    shapes = data.feature_shape
    for name in graph.inputs:
        want = tuple(graph.node(name).spec.shape)
        if name not in shapes:
            problems.append(_data_diagnostic(spec, f"dataset '{data.name}' has no array for input '{name}'; it "
                                             f"gives {', '.join(data.input_names)}. Name the model's inputs "
                                             "after them."))
        elif not _fits(want, shapes[name]):
            problems.append(_data_diagnostic(spec, f"dataset '{data.name}' gives '{name}' of shape {shapes[name]} "
                                             f"but input '{name}' has shape {_shape_str(want)}."))
    return problems


def _check_input(spec: ModelSpec, graph: Graph, data: Dataset) -> list[Diagnostic]:
    name = graph.inputs[0]
    want = tuple(graph.node(name).spec.shape)
    got = data.feature_shape
    if _fits(want, got):
        return []
    fits = [n for n in _datasets_of_shape(want) if n != data.name]
    fix = f"Use {' or '.join(fits)}, or change the input shape." if fits else "Change the input shape."
    message = (f"dataset '{data.name}' gives inputs of shape {got} but input '{name}' has shape "
               f"{_shape_str(want)}. {fix}")
    return [_data_diagnostic(spec, message)]


def _check_output(spec: ModelSpec, graph: Graph, data: Dataset, name: str, loss_spec: Loss) -> list[Diagnostic]:
    loss = loss_spec.name
    if loss not in CROSSENTROPY:
        return []
    out = graph.node(name)
    units = out.out.shape[-1]
    if loss == "binary_crossentropy":
        if data.num_classes == 2 and units == 1:
            return []
        want = "2 classes and an output with 1 unit"
    elif units == data.num_classes:
        return []
    else:
        want = f"an output with {data.num_classes} units, one per class"
    message = (f"dataset '{data.name}' has {data.num_classes} classes; {loss} needs {want}, but output "
               f"'{out.id}' has shape {_shape_str(out.out.shape[1:])}.")
    return [_data_diagnostic(spec, message)]


def _datasets_of_shape(shape: tuple) -> list[str]:
    """Registered datasets whose examples (with default options) have `shape`, `None` matching any size."""
    from pydantic import TypeAdapter

    from nnspec.specs.data import Dataset as DataSpec

    adapter = TypeAdapter(DataSpec)
    names = []
    for name in DATASETS:
        got = feature_shape(adapter.validate_python({"name": name}))
        if isinstance(got, tuple) and _fits(shape, got):  # several arrays (graphs) never fit one input
            names.append(name)
    return names


def _shape_str(shape) -> str:
    return str(tuple(shape))
