"""Layer factories for cards whose Keras layer depends on a spec field (`cls = "module:name"`).

A factory is called like a layer class, `factory(**kwargs, name=node_id)`, and returns a stock Keras
layer, so saved models need no custom objects. Keras is imported inside each factory.
"""

from __future__ import annotations


def recurrent(rnn: str, bidirectional: bool, merge_mode: str, name: str, **kwargs):
    """`keras.layers.<rnn>(**kwargs)`, wrapped in `keras.layers.Bidirectional` if `bidirectional`.

    The wrapper takes the node's name; Keras names the two inner copies `forward_<name>` and
    `backward_<name>`.
    """
    import keras

    layer_cls = getattr(keras.layers, rnn)
    if not bidirectional:
        return layer_cls(**kwargs, name=name)
    return keras.layers.Bidirectional(layer_cls(**kwargs, name=name), merge_mode=merge_mode,
                                      name=name)
