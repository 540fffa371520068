"""The runtime: IR → Keras model, training, ONNX export and verification.

Modules here import TensorFlow, Keras, onnx and onnxruntime inside functions, so importing `nnspec` stays fast
and the compiler works where TensorFlow is not installed.
"""
