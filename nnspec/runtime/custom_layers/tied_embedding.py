"""`TiedEmbedding`: one matrix of `input_dim` token vectors of length `output_dim`, used both ways (the
`tied_embedding` op's lowering): integer ids look their vectors up, as `keras.layers.Embedding`; float vectors are
scored against every token vector (logits), the pre-softmax projection of Vaswani et al. 2017, Sec. 3.4, that
shares its weights with the embeddings.

The matrix is stored transposed, `(output_dim, input_dim)` (a Dense kernel's layout): logits are then a plain
MatMul and lookups a Gather on axis 1, so an ONNX export reads ONE initializer for both (stored `(input_dim,
output_dim)`, tf2onnx constant-folds the transpose the logits need into a second copy of the matrix)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nnspec")
class TiedEmbedding(keras.layers.Layer):
    """ids `(batch, steps)` → `(batch, steps, output_dim)`; vectors `(batch, steps, output_dim)` →
    logits `(batch, steps, input_dim)`. The weight `embeddings` has shape `(output_dim, input_dim)`: column `i` is
    token `i`'s vector. Weights `N(0, output_dim^-1)` (Tensor2Tensor's initialization, made for
    embeddings scaled by `sqrt(output_dim)`). With `mask_zero`, id 0 is padding and masked for later layers; a
    logits call passes its input's mask through."""

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim, self.mask_zero = int(input_dim), int(output_dim), bool(mask_zero)
        self.supports_masking = True

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.output_dim, self.input_dim), name="embeddings",
            initializer=keras.initializers.RandomNormal(stddev=self.output_dim**-0.5))

    @staticmethod
    def _is_ids(inputs) -> bool:
        return "int" in keras.backend.standardize_dtype(inputs.dtype)

    def call(self, inputs):
        if self._is_ids(inputs):
            return ops.moveaxis(ops.take(self.embeddings, inputs, axis=1), 0, -1)
        return ops.matmul(inputs, ops.cast(self.embeddings, inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        if self._is_ids(inputs):
            return ops.not_equal(inputs, 0) if self.mask_zero else None
        return mask

    def compute_output_spec(self, inputs):
        if self._is_ids(inputs):
            return keras.KerasTensor((*inputs.shape, self.output_dim), dtype=self.compute_dtype)
        return keras.KerasTensor((*inputs.shape[:-1], self.input_dim), dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}
