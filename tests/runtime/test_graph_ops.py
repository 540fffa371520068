"""The graph ops against numpy references on small graphs: `gather_nodes` (node to edge), `scatter_aggregate`
(edge to node: sum, mean, max, with a node that receives nothing and edges repeated), `gcn_conv` (Kipf & Welling's
propagation rule with a renormalized adjacency), and whole zoo models (the GCN and the graph network) run with
their Keras weights through a numpy forward pass."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.compiler.pipeline import compile_spec
from nnspec.errors import NnspecError
from nnspec.specs.load import parse_spec

N, F = 5, 3
# Node 3 receives no edge; node 1 receives four (the edge 0 -> 1 appears twice); node 4 receives its own loop.
SENDERS = np.array([[0, 2, 4, 0, 3, 1, 4, 0], [4, 4, 4, 1, 0, 2, 3, 3]], dtype="int32")
RECEIVERS = np.array([[1, 1, 1, 1, 0, 2, 4, 2], [0, 0, 1, 2, 2, 2, 2, 0]], dtype="int32")
EMPTY = {0: [3], 1: [3, 4]}  # graph → nodes with no incoming edge


def _rng():
    return np.random.default_rng(0)


def _gather_ref(nodes, index):
    return np.stack([nodes[b][index[b]] for b in range(len(index))])


def _scatter_ref(messages, receivers, n, reduce):
    out = np.zeros((messages.shape[0], n, messages.shape[2]), dtype=np.float64)
    for b in range(messages.shape[0]):
        for node in range(n):
            incoming = messages[b][receivers[b] == node]
            if len(incoming):
                out[b, node] = {"sum": np.sum, "mean": np.mean, "max": np.max}[reduce](incoming, axis=0)
    return out


def _normalized_adjacency(senders, receivers, n):
    """Kipf & Welling's renormalization trick: D̃^-1/2 (A + I) D̃^-1/2 of the undirected graph."""
    a = np.zeros((n, n))
    a[senders, receivers] = a[receivers, senders] = 1.0
    a_tilde = a + np.eye(n)
    d = 1.0 / np.sqrt(a_tilde.sum(axis=1))
    return (d[:, None] * a_tilde * d[None, :]).astype("float32")


def _relu(x):
    return np.maximum(x, 0.0)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- shapes and dtypes (no Keras) ------------------------------------------------------------------------------


def _compile(body: str, inputs: str, outputs: str = ""):
    return compile_spec(parse_spec(f"name: g\ninputs:\n{inputs}\nnodes:\n{body}\n{outputs}"))


GRAPH_INPUTS = """  nodes: {shape: [5, 3]}
  messages: {shape: [8, 4]}
  receivers: {shape: [8], dtype: int32}"""


def test_shapes_follow_nodes_and_edges():
    g = _compile("  - {id: e, op: gather_nodes, from: [nodes, receivers]}\n"
                 "  - {id: v, op: scatter_aggregate, reduce: mean, from: [messages, receivers, nodes]}",
                 GRAPH_INPUTS, "outputs: [e, v]")
    assert g.node("e").out.shape == (None, 8, 3)
    assert g.node("v").out.shape == (None, 5, 4)


def test_float_indices_and_mismatched_edge_counts_are_diagnosed():
    with pytest.raises(NnspecError, match="expects int input as input 2"):
        _compile("  - {id: e, op: gather_nodes, from: [nodes, messages]}",
                 "\n".join(GRAPH_INPUTS.splitlines()[:2]))
    with pytest.raises(NnspecError, match="one receiver per message"):
        _compile("  - {id: v, op: scatter_aggregate, from: [messages, receivers, nodes]}",
                 GRAPH_INPUTS.replace("shape: [8], dtype", "shape: [7], dtype"))


def test_parity_inputs_keep_indices_below_the_node_count():
    from nnspec.runtime.onnx_export import parity_inputs

    spec = nnspec.load_spec("zoo:graph_network", ["params.num_nodes=3", "expect.params=5860"])
    feeds = parity_inputs(compile_spec(spec), batch=8)
    for name in ("senders", "receivers"):
        assert feeds[name].min() >= 0 and feeds[name].max() == 2


# --- the Keras layers against numpy ------------------------------------------------------------------------------


@pytest.mark.keras
def test_gather_nodes_gives_each_edge_its_endpoint():
    from nnspec.runtime.custom_layers.gather_nodes import GatherNodes

    nodes = _rng().standard_normal((2, N, F)).astype("float32")
    for index in (SENDERS, RECEIVERS):
        got = np.asarray(GatherNodes()([nodes, index]))
        np.testing.assert_array_equal(got, _gather_ref(nodes, index))


@pytest.mark.keras
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
def test_scatter_aggregate_matches_numpy(reduce):
    from nnspec.runtime.custom_layers.scatter_aggregate import ScatterAggregate

    # Messages all negative in graph 1: a max must not be clipped at the 0 that empty nodes get.
    messages = _rng().standard_normal((2, RECEIVERS.shape[1], 4)).astype("float32")
    messages[1] = -np.abs(messages[1]) - 0.5
    nodes = np.zeros((2, N, F), dtype="float32")
    got = np.asarray(ScatterAggregate(reduce=reduce)([messages, RECEIVERS, nodes]))
    want = _scatter_ref(messages, RECEIVERS, N, reduce)
    np.testing.assert_allclose(got, want, atol=1e-6)
    for b, empty in EMPTY.items():
        assert not got[b, empty].any()
    if reduce == "max":
        assert (got[1, [0, 1, 2]] < 0).all()


@pytest.mark.keras
@pytest.mark.parametrize("use_bias,activation", [(False, None), (True, "relu")])
def test_gcn_conv_is_the_propagation_rule(use_bias, activation):
    import keras

    from nnspec.runtime.custom_layers.graph_convolution import GraphConvolution

    features = _rng().standard_normal((2, N, F)).astype("float32")
    adjacency = np.stack([_normalized_adjacency(s, r, N) for s, r in zip(SENDERS, RECEIVERS)])
    layer = GraphConvolution(units=4, activation=activation, use_bias=use_bias,
                             bias_initializer="random_normal")
    got = np.asarray(layer([features, adjacency]))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    want = adjacency @ (features @ kernel)
    if use_bias:
        want = want + keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_allclose(got, _relu(want) if activation else want, atol=1e-5)
    assert len(layer.weights) == (2 if use_bias else 1)


@pytest.mark.onnx
@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_scatter_aggregate_onnx_handles_empty_nodes_and_repeated_edges(reduce, tmp_path):
    from nnspec.runtime.onnx_export import run_onnx

    text = f"""
name: scatter_{reduce}
inputs:
  nodes: {{shape: [{N}, {F}]}}
  messages: {{shape: [{RECEIVERS.shape[1]}, 4]}}
  receivers: {{shape: [{RECEIVERS.shape[1]}], dtype: int32}}
nodes:
  - {{id: agg, op: scatter_aggregate, reduce: {reduce}, from: [messages, receivers, nodes]}}
"""
    out = tmp_path / "scatter.onnx"
    nnspec.export_onnx(parse_spec(text), out)
    messages = _rng().standard_normal((2, RECEIVERS.shape[1], 4)).astype("float32") - 1.0
    feeds = {"nodes": np.zeros((2, N, F), "float32"), "messages": messages, "receivers": RECEIVERS}
    (got,) = run_onnx(out, feeds)
    np.testing.assert_allclose(got, _scatter_ref(messages, RECEIVERS, N, reduce), atol=1e-5)


# --- zoo models against numpy forward passes ---------------------------------------------------------------------


def _weights(model, name):
    return [np.asarray(w) for w in model.get_layer(name).weights]


@pytest.mark.keras
def test_gcn_forward_is_kipf_and_welling_eq_9():
    spec = nnspec.load_spec("zoo:gcn", nnspec.load_spec("zoo:gcn").expect.small)
    model = nnspec.build_keras(spec, seed=0)
    n, features = spec.inputs["features"].shape
    rng = _rng()
    x = rng.standard_normal((2, n, features)).astype("float32")
    senders, receivers = rng.integers(0, n, (2, 2 * n)), rng.integers(0, n, (2, 2 * n))
    adjacency = np.stack([_normalized_adjacency(s, r, n) for s, r in zip(senders, receivers)])
    got = np.asarray(model([x, adjacency], training=False))  # dropout is off at inference
    (w0,), (w1,) = _weights(model, "gc1"), _weights(model, "gc2")  # no biases, as in the reference
    want = _softmax(adjacency @ _relu(adjacency @ x @ w0) @ w1)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got.shape == (2, n, 3)


def _mlp(model, name, x):
    for layer in ("mlp1", "mlp2"):
        w, b = _weights(model, f"{name}{layer}")
        x = _relu(x @ w + b)
    return x


@pytest.mark.keras
@pytest.mark.parametrize("aggregate", ["sum", "max"])
def test_graph_network_forward_is_algorithm_1_step_by_step(aggregate):
    """Two GN blocks: each step's edge block reads the previous step's edges and nodes."""
    sets = ["params.num_nodes=6", "params.num_edges=10", "params.node_dim=3", "params.edge_dim=2",
            "params.latent=4", "params.classes=2", "params.steps=2", f"params.aggregate={aggregate}",
            "expect.params=294"]
    spec = nnspec.load_spec("zoo:graph_network", sets)
    model = nnspec.build_keras(spec, seed=0)
    rng = _rng()
    v = rng.standard_normal((2, 6, 3)).astype("float32")
    e = rng.standard_normal((2, 10, 2)).astype("float32")
    senders, receivers = (rng.integers(0, 6, (2, 10)).astype("int32") for _ in range(2))
    receivers[:, :] = np.where(receivers == 5, 0, receivers)  # node 5 receives nothing
    got = np.asarray(model([v, e, senders, receivers], training=False))

    w, b = _weights(model, "node_enc")
    v = _relu(v @ w + b)
    w, b = _weights(model, "edge_enc")
    e = _relu(e @ w + b)
    for step in (1, 2):
        e = _mlp(model, f"gn{step}.edge_",
                 np.concatenate([e, _gather_ref(v, receivers), _gather_ref(v, senders)], axis=-1))
        incoming = _scatter_ref(e, receivers, 6, aggregate)
        v = _mlp(model, f"gn{step}.node_", np.concatenate([incoming, v], axis=-1))
    w, b = _weights(model, "classes")
    np.testing.assert_allclose(got, _softmax(v @ w + b), atol=1e-5)


def test_graph_network_steps_are_repeated_gn_blocks():
    for steps in (1, 6):
        spec = nnspec.load_spec("zoo:graph_network", [f"params.steps={steps}", "expect.params=null"])
        info = nnspec.summary(spec)
        assert info["params"] == 5860 + (steps - 3) * 1856  # one GN block's weights per step (header)
    with pytest.raises(NnspecError, match="repeat"):
        nnspec.load_spec("zoo:graph_network", ["params.steps=0"])


@pytest.mark.keras
@pytest.mark.parametrize("name", ["gcn", "graph_network"])
def test_zoo_graph_models_save_and_load(name, tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all
    from nnspec.runtime.onnx_export import parity_inputs

    spec = nnspec.load_spec(f"zoo:{name}", nnspec.load_spec(f"zoo:{name}").expect.small)
    model = nnspec.build_keras(spec, seed=0)
    feeds = parity_inputs(compile_spec(spec), batch=2)
    xs = [feeds[n] for n in spec.inputs]
    model.save(tmp_path / "model.keras")
    register_all()
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(np.asarray(loaded(xs, training=False)), np.asarray(model(xs, training=False)))
