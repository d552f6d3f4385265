"""Training: seeded, deterministic, logged per epoch with dvclive, stopped on a bad loss."""

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_pipeline.dataset import Split
from mnist_pipeline.errors import PipelineError, raise_if_stopped
from mnist_pipeline.models import build_model, steps_per_epoch
from mnist_pipeline.params import Params, TrainParams


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


class StopOnSignal(keras.callbacks.Callback):
    """End training at the next batch after Ctrl-C or SIGTERM, even if Keras swallowed it."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_stopped()


def make_deterministic(seed: int) -> None:
    """Same seed, same machine, same weights: seeds Python, NumPy and TF, and pins op order."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_model(
    params: Params,
    train: Split,
    val: Split,
    live_dir: Path,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.Model:
    """Train the configured model; per-epoch train and validation metrics go to ``live_dir``."""
    make_deterministic(params.seed)
    steps = steps_per_epoch(len(train.y), params.train.batch_size)
    with precision(params.train.mixed_precision):
        model = build_model(params.model, params.train, steps)
    # dvc.yaml declares the plots itself, and the stage (not dvclive) makes experiments.
    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        model.fit(
            train.x,
            train.y,
            batch_size=params.train.batch_size,
            epochs=params.train.epochs,
            validation_data=(val.x, val.y),  # never the test set
            callbacks=[
                StopOnNonFiniteLoss(),
                StopOnSignal(),
                *early_stopping(params.train),
                DVCLiveCallback(live=live),
                *callbacks,
            ],
            verbose=2,
        )
    return model


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
    if train.early_stopping.patience == 0:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=train.early_stopping.patience,
            restore_best_weights=train.early_stopping.restore_best,
        )
    ]
