"""What training optimizes and reports: Keras losses, metrics and optimizers from a spec's `train:` section.

    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss=make_losses(cfg, outputs),
                  loss_weights=loss_weights(cfg, outputs), metrics=make_metrics(cfg, outputs))
"""

from __future__ import annotations

from nnspec.specs.train import CROSSENTROPY, Loss, Optimizer, TrainSpec


def losses_by_output(cfg: TrainSpec, outputs: tuple[str, ...]) -> dict[str, Loss]:
    """The loss of each output that has one: a single loss applies to every output."""
    if isinstance(cfg.loss, Loss):
        return {name: cfg.loss for name in outputs}
    return {name: cfg.loss[name] for name in outputs if name in cfg.loss}


def make_loss(spec: Loss):
    """The Keras loss object for one `Loss`."""
    import keras

    if spec.name in CROSSENTROPY:
        cls = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
               "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
               "binary_crossentropy": keras.losses.BinaryCrossentropy}[spec.name]
        kwargs = {"from_logits": spec.from_logits}
        if spec.name != "sparse_categorical_crossentropy":
            kwargs["label_smoothing"] = spec.label_smoothing
        return cls(**kwargs)
    if spec.name == "huber":
        return keras.losses.Huber(delta=spec.delta)
    if spec.name == "contrastive":
        from nnspec.runtime.keras_ext.losses import ContrastiveLoss

        return ContrastiveLoss(margin=spec.margin)
    if spec.name == "triplet":
        from nnspec.runtime.keras_ext.losses import TripletLoss

        return TripletLoss(margin=spec.margin)
    return {
        "mean_squared_error": keras.losses.MeanSquaredError, "mean_absolute_error": keras.losses.MeanAbsoluteError,
        "hinge": keras.losses.Hinge, "squared_hinge": keras.losses.SquaredHinge,
        "kl_divergence": keras.losses.KLDivergence, "cosine_similarity": keras.losses.CosineSimilarity,
    }[spec.name]()


def make_losses(cfg: TrainSpec, outputs: tuple[str, ...]) -> dict:
    """`{output id: Keras loss}`, for `model.compile(loss=...)` (outputs without a loss are left out)."""
    return {name: make_loss(spec) for name, spec in losses_by_output(cfg, outputs).items()}


def loss_weights(cfg: TrainSpec, outputs: tuple[str, ...]) -> dict[str, float]:
    return {name: spec.weight for name, spec in losses_by_output(cfg, outputs).items()}


def make_metric(name: str, loss: Loss | None):
    """A Keras metric by the spec's name; `accuracy` follows the loss (sparse, categorical or binary)."""
    import keras

    m = keras.metrics
    if name == "accuracy":
        if loss is None or loss.name == "sparse_categorical_crossentropy":
            return m.SparseCategoricalAccuracy(name="accuracy")
        if loss.name == "categorical_crossentropy":
            return m.CategoricalAccuracy(name="accuracy")
        return m.BinaryAccuracy(name="accuracy", threshold=0.0 if loss.from_logits else 0.5)
    if name == "top5_accuracy":
        sparse = loss is None or loss.name == "sparse_categorical_crossentropy"
        cls = m.SparseTopKCategoricalAccuracy if sparse else m.TopKCategoricalAccuracy
        return cls(k=5, name="top5_accuracy")
    logits = bool(loss is not None and loss.from_logits)
    return {
        "auc": lambda: m.AUC(name="auc", from_logits=logits),
        "precision": lambda: m.Precision(name="precision", thresholds=0.0 if logits else 0.5),
        "recall": lambda: m.Recall(name="recall", thresholds=0.0 if logits else 0.5),
        "mae": lambda: m.MeanAbsoluteError(name="mae"),
        "mse": lambda: m.MeanSquaredError(name="mse"),
        "rmse": lambda: m.RootMeanSquaredError(name="rmse"),
    }[name]()


LABEL_LOSSES = (*CROSSENTROPY, "hinge", "squared_hinge")
"""Losses whose targets are class labels, so accuracy means something."""


def metrics_by_output(cfg: TrainSpec, outputs: tuple[str, ...]) -> dict[str, list[str]]:
    """The metric names of each output. Left unsaid, `metrics` is `[accuracy]` for outputs trained on class
    labels and nothing for the others (accuracy of a regression, a distance or an embedding means nothing)."""
    losses = losses_by_output(cfg, outputs)
    if isinstance(cfg.metrics, dict):
        return {name: list(cfg.metrics[name]) for name in outputs if name in cfg.metrics}
    if "metrics" in cfg.model_fields_set:
        return {name: list(cfg.metrics) for name in outputs}
    return {name: ["accuracy"] for name in outputs if name in losses and losses[name].name in LABEL_LOSSES}


def make_metrics(cfg: TrainSpec, outputs: tuple[str, ...]) -> dict[str, list]:
    """`{output id: [Keras metrics]}` for `model.compile(metrics=...)`."""
    losses = losses_by_output(cfg, outputs)
    return {name: [make_metric(metric, losses.get(name)) for metric in metrics]
            for name, metrics in metrics_by_output(cfg, outputs).items() if metrics}


def make_optimizer(cfg: TrainSpec, steps_per_epoch: int, spec: Optimizer | None = None):
    """The Keras optimizer of `train.optimizer` (or of `spec`, e.g. a GAN discriminator's own), with the
    learning-rate schedule of `train.schedule` applied to its learning rate."""
    import keras

    from nnspec.runtime.keras_ext.schedules import learning_rate

    o = spec or cfg.optimizer
    common = dict(learning_rate=learning_rate(cfg, steps_per_epoch, o.learning_rate), weight_decay=o.weight_decay,
                  clipnorm=o.clipnorm, global_clipnorm=o.global_clipnorm, clipvalue=o.clipvalue,
                  use_ema=o.ema is not None, ema_momentum=o.ema or 0.99)
    opt = keras.optimizers
    if o.name == "sgd":
        return opt.SGD(momentum=o.momentum, nesterov=o.nesterov, **common)
    if o.name == "rmsprop":
        return opt.RMSprop(momentum=o.momentum, **common)
    betas = {k: getattr(o, k) for k in ("beta_1", "beta_2") if getattr(o, k) is not None}
    if o.name == "adamw":
        common["weight_decay"] = 0.004 if o.weight_decay is None else o.weight_decay
        return opt.AdamW(**common, **betas)
    if o.name in ("adam", "nadam", "lion"):
        return {"adam": opt.Adam, "nadam": opt.Nadam, "lion": opt.Lion}[o.name](**common, **betas)
    return {"adagrad": opt.Adagrad, "adadelta": opt.Adadelta}[o.name](**common)
