"""Training: seeded, deterministic, logged per epoch with dvclive, stopped on a bad loss."""

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf
from dvclive import Live

from mnist_pipeline.dataset import NUM_CLASSES, Split
from mnist_pipeline.errors import (
    PipelineError,
    first_line,
    raise_if_stopped,
    stop_signals_deferred,
)
from mnist_pipeline.keras_mends import multi_worker_mended
from mnist_pipeline.models import make_network
from mnist_pipeline.params.train import ModelParams, TrainParams, TrainStageParams

# A model whose validation accuracy ends below this learned nothing worth writing.
NO_BETTER_THAN_CHANCE = 2 / NUM_CLASSES
FIT_TIME = "fit, validation included, took"  # the line the train stage ends with
# What an UnavailableError means while training over several machines.
UNREACHABLE = "; a worker of the cluster stopped or cannot be reached: start every worker again"
# Training steps per call into TensorFlow's graph. One call per step costs a share of a
# small network's step in Python and callbacks; 16 makes that share small, computes the
# same weights, and still lets the callbacks (Ctrl-C, a non-finite loss) act within 16 steps.
# Under a tf.distribute strategy Keras 3.15's loop of several steps fails (a placeholder of
# its while loop is left unfed), so there every call is one step.
STEPS_PER_EXECUTION = 16


class NonFiniteLossError(PipelineError):
    pass


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Fail the run at the first NaN or infinite loss (Keras's TerminateOnNaN exits quietly)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"training loss became {float(loss)} at batch {batch}; "
                "lower train.learning_rate (no model was written)"
            )


class LiveCurves(keras.callbacks.Callback):
    """Each epoch's loss and accuracy as dvclive curves: ``train/<name>`` and ``val/<name>``.

    dvclive's own Keras callback files the validation split under ``eval/``; ours is
    ``val`` everywhere, as in the metrics files.
    """

    MEASURES = ("loss", "accuracy")

    def __init__(self, live: Live):
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for measure in self.MEASURES:
            self.live.log_metric(f"train/{measure}", float(logs[measure]))
            self.live.log_metric(f"val/{measure}", float(logs[f"val_{measure}"]))
        self.live.next_step()


class StopOnSignal(keras.callbacks.Callback):
    """End training after the running call into TensorFlow, once Ctrl-C or SIGTERM came.

    Training runs with stop signals deferred (``errors.stop_signals_deferred``):
    these hooks, between TensorFlow's calls, are where stopping is safe.
    """

    def on_train_batch_end(self, batch, logs=None):
        raise_if_stopped()

    def on_test_batch_end(self, batch, logs=None):
        raise_if_stopped()

    def on_epoch_end(self, epoch, logs=None):
        raise_if_stopped()


def make_deterministic(seed: int) -> None:
    """Same seed, same machine, same weights: seeds Python, NumPy and TF, and pins op order.

    Clearing the session also restarts Keras's layer names (conv2d, conv2d_1, ...),
    which the saved model holds: the same run gives the same file.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_model(
    params: TrainStageParams,
    train: Split,
    val: Split,
    live_dir: Path,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.Model:
    """Train the configured model; per-epoch train and validation metrics go to ``live_dir``.

    Ctrl-C and SIGTERM stop it between TensorFlow's calls, never inside one.
    """
    with stop_signals_deferred():
        return _train(params, train, val, live_dir, callbacks)


def _train(
    params: TrainStageParams,
    train: Split,
    val: Split,
    live_dir: Path,
    callbacks: Sequence[keras.callbacks.Callback],
) -> keras.Model:
    make_deterministic(params.seed)
    steps = steps_per_epoch(len(train.y), params.train.batch_size)
    # batch_size stays the global batch: the strategy splits each batch over its replicas,
    # and the schedule counts the optimizer's steps, which are global steps too.
    strategy = distribution(params.train)
    with strategy.scope(), precision(params.train.mixed_precision):
        model = build_model(params.model, params.train, steps)
    started = time.perf_counter()
    with curves(live_dir) as live, tf_errors(), multi_worker_mended(model, strategy):
        history = model.fit(
            batches(train, params.train.batch_size, seed=params.seed),
            epochs=params.train.epochs,
            shuffle=False,  # batches() shuffles; Keras would warn it cannot
            validation_data=batches(val, params.train.batch_size),  # never the test set
            callbacks=[
                StopOnNonFiniteLoss(),
                StopOnSignal(),
                *early_stopping(params.train),
                LiveCurves(live),
                *callbacks,
            ],
            verbose=2,
        )
    check_learned(history.history)
    # bench/results_table.py reads this line from `dvc exp run`'s output.
    seconds = time.perf_counter() - started
    print(f"{FIT_TIME} {len(history.epoch)} epochs in {seconds:.1f} s", flush=True)
    return model


@contextmanager
def curves(live_dir: Path) -> Iterator[Live]:
    """dvclive's per-epoch curves in ``live_dir/plots``, and nothing else.

    dvc.yaml declares the plots itself, and the stage (not dvclive) makes experiments.
    dvclive's summary of the last epoch (metrics.json) is removed: the metrics files
    are the evaluate stage's, so `dvc metrics show` stays one narrow table.
    """
    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
    with live:
        yield live
    Path(live.metrics_file).unlink(missing_ok=True)


@contextmanager
def tf_errors() -> Iterator[None]:
    """TensorFlow's runtime failures (a device out of memory, a lost worker) as one line."""
    try:
        yield
    except tf.errors.OpError as error:
        cause = first_line(error, limit=300).rstrip(":")
        hint = UNREACHABLE if isinstance(error, tf.errors.UnavailableError) else ""
        raise PipelineError(
            f"training stopped: {type(error).__name__}: {cause}{hint} (no model was written)"
        ) from None


def check_learned(history: dict[str, list[float]]) -> None:
    """Refuse a model that ended no better than guessing (a learning rate far too high).

    Both accuracies must be at chance: after one short epoch a batch-normalised
    net can still score at chance on validation (its running statistics lag)
    while it already learns on the training batches.
    """
    best = max(history["accuracy"][-1], history["val_accuracy"][-1])
    if not best >= NO_BETTER_THAN_CHANCE:
        raise PipelineError(
            f"training ended at accuracy {best:.4f} on the training and validation splits, "
            f"no better than chance (below {NO_BETTER_THAN_CHANCE:.2f}); "
            "lower train.learning_rate (no model was written)"
        )


def batches(split: Split, batch_size: int, seed: int | None = None) -> tf.data.Dataset:
    """The split in batches of (uint8 images, one-hot labels); with a seed, shuffled each epoch.

    Two things ``fit(x, y, shuffle=True)`` gets wrong here, so it is not used:
    - with op determinism on, Keras's shuffle repeats one order every epoch;
    - tf.data's autotuning thread sometimes outlives its epoch's iterator, and the
      next epoch waits seconds for it (bench/reference_race.py prints these waits
      for Keras's batches). Slicing arrays in memory needs no tuning.
    """
    indices = tf.data.Dataset.range(len(split.y))
    if seed is not None:
        indices = indices.shuffle(len(split.y), seed=seed, reshuffle_each_iteration=True)
    # The arrays enter once, as one element, rather than as constants of the graph.
    arrays = tf.data.Dataset.from_tensors((split.x, split.y)).repeat()
    dataset = tf.data.Dataset.zip(indices.batch(batch_size), arrays).map(
        lambda batch, data: (
            tf.gather(data[0], batch),
            tf.one_hot(tf.gather(data[1], batch), NUM_CLASSES),  # for the smoothed loss
        )
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    # Across machines each worker takes its share of every batch: the data is in memory, not files.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(1).with_options(options)


def distribution(train: TrainParams) -> tf.distribute.Strategy:
    """TensorFlow's own strategy for ``train.distribute``; the default one is one device."""
    if train.distribute == "multi_worker":
        # Its cluster and this worker's place in it come from TF_CONFIG (see cluster.py).
        return tf.distribute.MultiWorkerMirroredStrategy()
    if train.distribute == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(train.devices) or None)
    if train.distribute == "auto" and len(tf.config.list_logical_devices("GPU")) >= 2:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@contextmanager
def precision(mixed: bool) -> Iterator[None]:
    """Build layers in bfloat16 compute (float32 weights), then restore the process's policy.

    Keras's policy is global and each layer keeps the one it was built with,
    so it is set only while the model is built.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def early_stopping(train: TrainParams) -> list[keras.callbacks.Callback]:
    if train.early_stopping_patience == 0:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=train.early_stopping_patience, restore_best_weights=True
        )
    ]


def build_model(model: ModelParams, train: TrainParams, steps_per_epoch: int = 1) -> keras.Model:
    """The configured network (models.py), compiled with the training settings."""
    network = make_network(model)
    network.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=make_loss(train.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=1 if tf.distribute.has_strategy() else STEPS_PER_EXECUTION,
    )
    return network


def learning_rate(train: TrainParams, steps_per_epoch: int):
    """A float for ``constant``, else a schedule over every training step."""
    total = max(1, train.epochs * steps_per_epoch)
    if train.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(train.learning_rate, decay_steps=total)
    if train.schedule == "warmup_cosine":  # one-cycle style: rise linearly, then cosine to 0
        warmup = min(round(train.warmup_epochs * steps_per_epoch), total - 1)
        return keras.optimizers.schedules.CosineDecay(
            train.learning_rate / 25,
            decay_steps=total - warmup,
            warmup_target=train.learning_rate,
            warmup_steps=warmup,
        )
    return train.learning_rate


def make_optimizer(train: TrainParams, steps_per_epoch: int = 1) -> keras.optimizers.Optimizer:
    """The optimizer; with ``ema_momentum``, one that also averages the weights.

    Keras's ``fit`` ends by writing the average into the model (Polyak averaging):
    the validation curve shows the raw weights, the saved model the averaged ones.
    """
    rate = learning_rate(train, steps_per_epoch)
    averaging = {"use_ema": True, "ema_momentum": train.ema_momentum} if train.ema_momentum else {}
    if train.optimizer == "adam":
        return keras.optimizers.Adam(rate, **averaging)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, **averaging)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, **averaging)


def make_loss(label_smoothing: float) -> keras.losses.Loss:
    """Cross-entropy on one-hot targets (``batches`` makes them), optionally smoothed.

    Keras's sparse cross-entropy has no label smoothing; the one-hot form does.
    """
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


def steps_per_epoch(images: int, batch_size: int) -> int:
    return math.ceil(images / batch_size)
