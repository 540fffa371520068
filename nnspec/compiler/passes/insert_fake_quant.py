"""`insert_fake_quant`: put a `fake_quant` node on every activation that the int8 export quantizes, so a model
can be fine-tuned against its own quantization (quantization-aware training; Jacob et al. 2018).

The export is onnxruntime's static QDQ quantization of the float ONNX model after `quant_pre_process`. It gives
every tensor between ops its own uint8 scale, except where its graph optimizer fuses two ops first, and the pass
mirrors that:
- a graph input gets a fake-quant (its first QuantizeLinear);
- every other float, single-output node gets one after it, except
  - when its only consumer is a `relu` (onnxruntime drops the QDQ pair in front of a Relu and keeps the one
    after it), or a `batch_norm` reading a convolution or dense layer with no activation (folded into its
    weights);
  - `dropout` (an identity at inference: the tensor it passes on is already quantized);
  - graph outputs (they keep their names, which losses and metrics refer to; the last rounding of the logits
    or probabilities barely moves an argmax).
Weights are quantized inside their layers, not as graph tensors: `quantized_weights(g)` names the nodes whose
kernels the runtime fake-quantizes (per output channel, symmetric int8, as the export does).

Requires: a typed graph (`infer_shapes`).
Ensures: the same model with `fake_quant` nodes added (re-typed); running it twice adds nothing the second time.
"""

from __future__ import annotations

from nnspec.compiler.edit import fresh_id, insert_after
from nnspec.compiler.ir import Graph, Node
from nnspec.compiler.passes import PassResult
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.layers._registry import FLOAT_DTYPES, LAYERS

FAKE_QUANT = "fake_quant"
WEIGHTED = ("conv1d", "conv2d", "conv3d", "depthwise_conv2d", "dense")
"""Ops whose kernel the export quantizes per output channel and the runtime fake-quantizes the same way (a
depthwise convolution exports as a grouped Conv: its output channels are the input channels × multiplier)."""
IDENTITY_AT_INFERENCE = ("dropout",)


def insert_fake_quant(g: Graph, *, bits: int = 8, momentum: float = 0.99) -> PassResult:
    """Add a `fake_quant` node (unsigned `bits`-bit grid, range tracked with `momentum`) after every activation
    the export quantizes (see the module docstring). Returns `PassResult(graph, changed)`."""
    spec_cls = LAYERS[FAKE_QUANT].spec
    targets = [node for node in g.order() if _needs_fake_quant(g, node)]
    for node in targets:
        new_id = fresh_id(g, f"{node.id}_quant")
        note = f"inserted by insert_fake_quant after '{node.id}'"
        new = Node(new_id, FAKE_QUANT, spec_cls(num_bits=bits, momentum=momentum), node.order, node.src,
                   node.path, note=note, scope=node.scope)
        g = insert_after(g, node.id, new)
    if not targets:
        return PassResult(g, False)
    return PassResult(infer_shapes(g).graph, True)


def quantized_weights(g: Graph) -> tuple[str, ...]:
    """Ids of the nodes whose kernel is fake-quantized during QAT (and quantized per channel on export): the
    convolutions and dense layers that own their weights."""
    return tuple(n.id for n in g.order() if n.op in WEIGHTED and not n.shares)


def _needs_fake_quant(g: Graph, node: Node) -> bool:
    if node.op == FAKE_QUANT or node.op in IDENTITY_AT_INFERENCE or node.id in g.outputs:
        return False
    if len(node.outs) != 1 or node.out.dtype not in FLOAT_DTYPES:
        return False
    consumers = [g.node(c) for c in g.consumers(node.id)]
    if any(c.op == FAKE_QUANT for c in consumers):
        return False  # already quantized (a second run of the pass)
    if not consumers:
        return False
    if len(consumers) == 1 and _absorbs(node, consumers[0]):
        return False
    return True


def _absorbs(node: Node, consumer: Node) -> bool:
    """Whether onnxruntime fuses `node`'s output into its only consumer before quantizing (no QDQ between)."""
    if consumer.op == "relu":
        return True
    linear = getattr(node.spec, "activation", None) in (None, "linear")  # an activation between stops folding
    return consumer.op == "batch_norm" and node.op in WEIGHTED and linear
