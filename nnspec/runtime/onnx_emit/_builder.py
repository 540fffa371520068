"""The state of one emission: the ONNX nodes and initializers written so far, and each IR tensor's ONNX names.

Layouts. Spec tensors are channels-last (Keras: NHWC, NWC, NDHWC). ONNX's Conv and pools want channels-first
(NCHW). Each IR tensor may exist in the ONNX graph in either layout, under a different name; `Builder.read`
hands an emitter its input in the layout it asks for, writing one Transpose the first time a layout is missing
(and remembering it, so a tensor read by several consumers is transposed once). Convolutions ask for
`FIRST`; ops that work in any layout (activations, batch norm, merges, pads) keep whatever layout their input
is in; ops where element order matters (flatten, reshape, dense) ask for `LAST`. Tensors of rank ≤ 2 have one
layout only.

Names. ONNX node names are spec node ids, or `id/suffix` for an op's helper nodes (and for layout transposes of
the tensor of node `id`: `id/channels_first`, `id/channels_last`). A tensor is named after the node that
writes it; the graph's output tensors are named after the spec's output node ids at the end
(`output_tensors`).
"""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import Graph, Node

LAST = "channels_last"
"""Keras's layout: channels on the last axis."""
FIRST = "channels_first"
"""ONNX Conv's layout: channels on axis 1, then the spatial axes in order."""


def to_layout(rank: int, layout: str) -> list[int]:
    """The permutation taking a channels-last tensor of `rank` to `layout` (`np.transpose`/ONNX Transpose)."""
    if layout == FIRST and rank >= 3:
        return [0, rank - 1, *range(1, rank - 1)]
    return list(range(rank))


def axis_in(layout: str, rank: int, axis: int) -> int:
    """Where Keras axis `axis` (negative counts from the end) of a rank-`rank` tensor sits in `layout`."""
    return to_layout(rank, layout).index(axis % rank)


class Builder:
    """Collects the nodes and initializers of one ONNX graph emitted from a typed IR graph and its weights."""

    def __init__(self, graph: Graph, weights: dict, opset: int):
        self.graph, self.weights, self.opset = graph, weights, opset
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self._values: dict[tuple[str, int], dict[str, str]] = {}
        """(IR node id, output port) → {layout: ONNX tensor name}. Aliases (dropout) share one dict."""
        self._reserved = set(graph.inputs) | set(graph.outputs)
        self._used: set[str] = set(graph.inputs)
        for name in graph.inputs:
            self._values[(name, 0)] = {LAST: name}

    # --- reading ----------------------------------------------------------------------------------------------

    def rank(self, node: Node, port: int = 0) -> int:
        """The rank (batch axis included) of input `port` of `node`."""
        return len(self.graph.input_types(node.id)[port].shape)

    def rank_channels(self, node: Node, port: int = 0) -> int:
        """The channel count (last axis, in Keras's layout) of input `port` of `node`."""
        return self.graph.input_types(node.id)[port].shape[-1]

    def inputs(self, node: Node) -> int:
        return len(self.graph.sources(node.id))

    def layouts(self, node: Node, port: int = 0) -> set[str]:
        """The layouts input `port` of `node` is already available in."""
        return set(self._values[self.graph.sources(node.id)[port]])

    def natural(self, node: Node) -> str:
        """The layout an any-layout op should work in: channels-first if some input already is, else Keras's."""
        ranked = [p for p in range(self.inputs(node)) if self.rank(node, p) >= 3]
        return FIRST if any(FIRST in self.layouts(node, p) for p in ranked) else LAST

    def read(self, node: Node, port: int = 0, layout: str = LAST) -> str:
        """The ONNX name of input `port` of `node` in `layout`, transposing it (once per tensor) if needed."""
        src, src_port = self.graph.sources(node.id)[port]
        forms = self._values[(src, src_port)]
        rank = len(self.graph.input_types(node.id)[port].shape)
        if rank <= 2:
            return next(iter(forms.values()))
        if layout not in forms:
            (have, name), = forms.items()
            perm = np.argsort(to_layout(rank, have))[to_layout(rank, layout)].tolist()
            forms[layout] = self.add("Transpose", [name], name=f"{src}/{layout}", perm=perm)
        return forms[layout]

    def weight(self, node: Node, name: str) -> np.ndarray:
        """Variable `name` of `node` (of its twin for a weight-sharing node), in Keras's layout."""
        owner = node.shares or node.id
        try:
            return np.asarray(self.weights[owner][name])
        except KeyError:
            raise KeyError(f"no weight '{owner}/{name}' given for node '{node.id}'") from None

    # --- writing ----------------------------------------------------------------------------------------------

    def add(self, op: str, inputs: list[str], *, name: str, **attrs) -> str:
        """Append ONNX node `op` named `name`; returns the name of its (single) output tensor."""
        import onnx.helper

        out = self._tensor_name(name)
        self.nodes.append(onnx.helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def const(self, name: str, value, dtype=None) -> str:
        """An initializer `name` holding `value` (created once per name: weight-sharing twins reuse it)."""
        if name not in self.initializers:
            self.initializers[name] = np.asarray(value, dtype=dtype)
            self._used.add(name)
        return name

    def param(self, node: Node, key: str, make) -> str:
        """A float32 initializer made from `node`'s weights by `make()`, named `<owner id>/<key>`: a weight-sharing
        twin reuses its owner's (made once)."""
        name = f"{node.shares or node.id}/{key}"
        if name not in self.initializers:
            self.const(name, make(), np.float32)
        return name

    def ints(self, name: str, values) -> str:
        """An int64 initializer (shapes, pads, axes)."""
        return self.const(name, np.asarray(list(values), dtype=np.int64))

    def scalar(self, name: str, value: float, node: Node) -> str:
        """A scalar initializer of `node`'s output dtype (Clip bounds, gelu's constants)."""
        return self.const(name, np.asarray(value, dtype=node.out.dtype))

    def write(self, node: Node, tensor: str, layout: str) -> None:
        """Record `tensor` (in `layout`) as the output of `node`."""
        rank = len(node.out.shape)
        self._values[(node.id, 0)] = {LAST if rank <= 2 else layout: tensor}

    def alias(self, node: Node, port: int = 0) -> None:
        """Make `node`'s output the very tensor it reads (dropout at inference): no ONNX node at all."""
        self._values[(node.id, 0)] = self._values[tuple(self.graph.sources(node.id)[port])]

    def _tensor_name(self, name: str) -> str:
        out = name if name not in self._reserved else f"{name}:0"
        k = 0
        while out in self._used:
            k += 1
            out = f"{name}:{k}"
        self._used.add(out)
        return out

    # --- the graph's outputs ----------------------------------------------------------------------------------

    def output_tensors(self) -> list[str]:
        """Name each graph output's channels-last tensor after its spec node id (an Identity where the tensor
        is a graph input, or serves another output too); returns the output names."""
        import onnx.helper

        renames: dict[str, str] = {}
        for node_id in self.graph.outputs:
            forms = self._values[(node_id, 0)]
            rank = len(self.graph.node(node_id).out.shape)
            if rank > 2 and LAST not in forms:
                (name,) = forms.values()
                perm = np.argsort(to_layout(rank, FIRST)).tolist()
                forms[LAST] = self.add("Transpose", [name], name=f"{node_id}/{LAST}", perm=perm)
            tensor = forms[LAST] if rank > 2 else next(iter(forms.values()))
            if tensor == node_id:
                continue
            if tensor in self.graph.inputs or tensor in renames or tensor in self.initializers:
                self.nodes.append(onnx.helper.make_node("Identity", [tensor], [node_id], name=f"{node_id}/output"))
            else:
                renames[tensor] = node_id
        for n in self.nodes:
            n.input[:] = [renames.get(t, t) for t in n.input]
            n.output[:] = [renames.get(t, t) for t in n.output]
        return list(self.graph.outputs)
