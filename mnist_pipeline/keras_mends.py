"""A mend for a bug of Keras itself, applied only to the Keras it was written for.

Keras 3's ``fit`` fails under TensorFlow's MultiWorkerMirroredStrategy
(keras-team/keras#20585). ``multi_worker_mended`` works around it by replacing a
private function of Keras's TensorFlow trainer for the length of one ``fit``.
Private code may change in any release, so the mend applies only to the Keras
releases it was tested with (``MENDED_RELEASES``). Under any other Keras it
steps aside and says so in one line: a later Keras may need no mend (then
training simply works), and ``python bench/multi_worker_check.py`` shows
whether it still does.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import keras
import tensorflow as tf

MENDED_RELEASES = ("3.15",)  # major.minor of the Keras releases the mend was tested with


def mend_applies(version: str = keras.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in MENDED_RELEASES


@contextmanager
def multi_worker_mended(model: keras.Model, strategy: tf.distribute.Strategy) -> Iterator[None]:
    """Mend two bugs of Keras 3's TensorFlow trainer under MultiWorkerMirroredStrategy.

    Keras's ``fit`` fails there in two places:
    - before the first step it averages the first batch over the replicas to learn
      its shapes, handing the collective a tuple it cannot convert; the model is
      built already, so the step is skipped by letting ``fit`` take the strategy
      from the scope it runs in, as for a model built outside any strategy;
    - after each step it averages the logged scalars along an axis 0 they lack,
      so they are averaged over the replicas as they are.
    The weights are all-reduced by the strategy itself either way. A no-op for
    every other strategy; ``bench/multi_worker_check.py`` shows the bugs unmended.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    if not mend_applies():
        print(
            f"warning: Keras {keras.__version__} is not the {', '.join(MENDED_RELEASES)} whose "
            "multi-worker bug (keras-team/keras#20585) this project mends: training without "
            "the mend (python bench/multi_worker_check.py says whether Keras still needs it)",
            file=sys.stderr,
        )
        yield
        return
    with _trainer_reduce_mended(), _strategy_from_scope(model, strategy):
        yield


@contextmanager
def _trainer_reduce_mended() -> Iterator[None]:
    from keras.src.backend.tensorflow import trainer  # private: only for MENDED_RELEASES

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original_reduce


@contextmanager
def _strategy_from_scope(model: keras.Model, strategy: tf.distribute.Strategy) -> Iterator[None]:
    model._distribute_strategy = None
    try:
        with strategy.scope():
            yield
    finally:
        model._distribute_strategy = strategy
