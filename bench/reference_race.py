"""Race a configuration of ours against the Keras docs' `mnist_convnet` example.

Both train in this one process on the real MNIST (data/raw/mnist.npz, so run
`dvc repro` first). After every epoch the test accuracy is measured (outside
the timed training), and the training wall time at which it first reaches
99.0% is printed for each, with their ratio; each stops training there,
since the race is to 99.0%. The ratio is printed as the reference runs, and
with its tf.data stalls (its waits before epochs' first batches) taken off.
With `--runs N` the race is run N times, and the median of each ratio printed.

The reference: Conv32-Pool-Conv64-Pool-Flatten-Dropout(0.5)-Dense10, Adam,
batch 128, 15 epochs, the last 10% of the training set held out.

    python bench/reference_race.py -S model=fast      # the preset conf/model/fast.yaml
    python bench/reference_race.py -S model=fast --runs 5
    python bench/reference_race.py -S model=fast -S train.epochs=3

`-S` takes what `dvc exp run -S` takes: a preset, or any key (Hydra's overrides of conf/).
"""

import argparse
import statistics
import time

import keras
from cpu import BF16, cpu_features
from in_process import ExperimentParams, composed_params, train_experiment

from mnist_pipeline.dataset import RawData
from mnist_pipeline.evaluation import summary_metrics
from mnist_pipeline.training import make_deterministic

TARGET = 0.99


def reference_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


class TestAccuracyClock(keras.callbacks.Callback):
    """Training time per epoch, and the test accuracy after it (measured off the clock).

    It also sums the wait before each epoch's first batch: Keras's own batches
    of arrays (the reference's) can stall there for seconds on tf.data's
    autotuning thread, which the pipeline's batches turn off.
    """

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.trained_seconds, self.waiting_seconds, self.history = 0.0, 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:  # Keras numbers batches from 0 in every epoch
            self.waiting_seconds += time.perf_counter() - self.started

    def on_epoch_end(self, epoch, logs=None):
        self.trained_seconds += time.perf_counter() - self.started
        probabilities = self.model.predict(self.x_test, batch_size=1000, verbose=0)
        accuracy = summary_metrics(self.y_test, probabilities)["accuracy"]
        self.history.append((self.trained_seconds, accuracy))
        self.model.stop_training = accuracy >= TARGET  # the race is won: no need to go on

    def seconds_to(self, target: float) -> float | None:
        return next((seconds for seconds, accuracy in self.history if accuracy >= target), None)

    def stall_free_seconds_to(self, target: float) -> float | None:
        """The time to ``target`` less the waits before epochs' first batches (it stops there)."""
        reached = self.seconds_to(target)
        return reached - self.waiting_seconds if reached else None


def scaled(pixels):
    """The example's own input: float32 (N, 28, 28, 1) in [0, 1] (ours scales inside the model)."""
    return (pixels.astype("float32") / 255)[..., None]


def race_reference(raw: RawData) -> TestAccuracyClock:
    make_deterministic(0)
    x, y = scaled(raw.x_train), keras.utils.to_categorical(raw.y_train, 10)
    clock = TestAccuracyClock(scaled(raw.x_test), raw.y_test)
    reference_model().fit(
        x, y, batch_size=128, epochs=15, validation_split=0.1, callbacks=[clock], verbose=0
    )
    return clock


def race_ours(raw: RawData, params: ExperimentParams) -> TestAccuracyClock:
    """The pipeline's own preprocessing and training, as the stages run them."""
    clock = TestAccuracyClock(raw.x_test, raw.y_test)
    train_experiment(raw, params, callbacks=[clock])
    return clock


def describe(name: str, clock: TestAccuracyClock) -> str:
    reached = clock.seconds_to(TARGET)
    epoch = next((i + 1 for i, (_, a) in enumerate(clock.history) if a >= TARGET), None)
    when = f"{reached:.1f} s (epoch {epoch})" if reached else "never"
    return (
        f"{name:<10} 99.0% after {when}; test accuracy {clock.history[-1][1]:.4f} "
        f"after {len(clock.history)} epochs, {clock.trained_seconds:.1f} s of training "
        f"({clock.waiting_seconds:.1f} s of it before epochs' first batches)"
    )


def race(raw: RawData, params: ExperimentParams) -> tuple[float, float] | None:
    """One race, printed; how many times sooner ours is, as the reference runs and stall-free."""
    reference = race_reference(raw)
    ours = race_ours(raw, params)
    print(describe("reference", reference))
    print(describe("ours", ours))
    if not (reference.seconds_to(TARGET) and ours.seconds_to(TARGET)):
        return None
    sooner = reference.seconds_to(TARGET) / ours.seconds_to(TARGET)
    stall_free = reference.stall_free_seconds_to(TARGET) / ours.seconds_to(TARGET)
    print(
        f"ours reaches 99.0% {sooner:.2f}x sooner than the reference ({stall_free:.2f}x stall-free)"
    )
    return sooner, stall_free


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", default="data/raw/mnist.npz")
    parser.add_argument("--runs", type=int, default=1, help="races to run (default 1)")
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    params = composed_params(args.overrides)
    raw = RawData.load(args.raw)
    ratios = [race(raw, params) for _ in range(args.runs)]
    won = [ratio for ratio in ratios if ratio]
    if len(won) > 1:
        print(f"{len(won)} of {len(ratios)} races reached 99.0%:")
        for index, name in enumerate(("sooner", "stall-free")):
            each = [ratio[index] for ratio in won]
            listed = ", ".join(f"{r:.2f}x" for r in each)
            print(f"  {name:<10} {listed}; median {statistics.median(each):.2f}x")
    print("ours: " + " ".join(args.overrides))
    print(f"this CPU's bfloat16 instructions: {cpu_features(BF16)}")


if __name__ == "__main__":
    main()
