"""`MultiHeadAttention`: Keras's `MultiHeadAttention` with `use_causal_mask` fixed in its config (the
`multi_head_attention` op's lowering). Keras takes the causal flag as a call argument; nnspec applies each layer as
`layer(query=..., value=..., key=...)`, so the flag lives on the layer instead and is saved with it.

It also keeps the Keras masks of its inputs. Keras's layer clears them from the input tensors themselves when it
runs (it has read them into its attention mask), so in a residual block `add(x, attention(x, x))` the add then sees
an unmasked `x` and drops the padding mask for every layer after it (Keras merges masks with OR, and a missing
mask means "all valid"): a post-LN Transformer would lose its source mask after the first block."""

from __future__ import annotations

import keras
from keras.src.backend import (  # no public API for a tensor's Keras mask
    get_keras_mask,
    set_keras_mask,
)


@keras.saving.register_keras_serializable(package="nnspec")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """Keras's multi-head attention; with `use_causal_mask=True` every call masks out the future: query step `t`
    attends to key steps `<= t` only. Keras masks (padding from `Embedding(mask_zero=True)`) still apply."""

    def __init__(self, use_causal_mask: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.use_causal_mask = bool(use_causal_mask)

    # The full signature, not **kwargs: Keras fills `query_mask`/`value_mask`/`key_mask` from the inputs' masks
    # only for call arguments it can see by name.
    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=None):
        causal = self.use_causal_mask if use_causal_mask is None else use_causal_mask
        inputs = [x for x in (query, value, key) if x is not None]
        masks = [get_keras_mask(x) for x in inputs]
        outputs = super().call(query, value, key=key, query_mask=query_mask, value_mask=value_mask,
                               key_mask=key_mask, attention_mask=attention_mask,
                               return_attention_scores=return_attention_scores, training=training,
                               use_causal_mask=causal)
        for x, mask in zip(inputs, masks):
            if mask is not None:
                set_keras_mask(x, mask)
        return outputs

    def get_config(self):
        return {**super().get_config(), "use_causal_mask": self.use_causal_mask}
