"""The compiler: a spec lowered to an IR graph, shapes and counts inferred, verified, transformed by passes.

Nothing here imports TensorFlow, Keras, onnx or onnxruntime (a test enforces it), so checking and summarizing a
spec takes a fraction of a second.
"""
