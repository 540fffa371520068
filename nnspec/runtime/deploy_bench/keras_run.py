"""A run's Keras model as a variant, called through a compiled `tf.function` (package docs)."""

from __future__ import annotations

from nnspec.runtime.deploy_bench.variant import Variant


def keras_variant(name, path, model, graph, spec, evaluation) -> Variant:
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    names = list(graph.outputs)

    def feed(x):
        return x[graph.inputs[0]] if len(graph.inputs) == 1 else x

    def run(x):
        out = call({k: tf.convert_to_tensor(v) for k, v in x.items()} if len(x) > 1 else tf.convert_to_tensor(
            next(iter(x.values()))))
        return dict(zip(names, out if isinstance(out, (list, tuple)) else [out]))

    def predict(x):  # as `nnspec eval` predicts: Keras's own batching with the spec's batch size
        out = model.predict(feed(x), batch_size=spec.train.batch_size, verbose=0)
        return dict(zip(names, out if isinstance(out, (list, tuple)) else [out]))

    return Variant(name, "keras", path, run, predict, evaluation,
                   notes=["size: model.keras as saved, with the optimizer's state when training kept it"])
