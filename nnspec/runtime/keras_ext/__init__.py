"""nnspec's own Keras objects for training: learning-rate schedules, losses and callbacks Keras does not ship.

Like `custom_layers/`, these modules subclass Keras classes, so they import Keras at module level; the trainer
imports them inside functions, so `nnspec check` and `summary` never load TensorFlow.
"""
