"""Per-epoch time and test accuracy of one configuration under each train.distribute setting.

    python bench/distribute.py                        # the devices TensorFlow sees
    python bench/distribute.py --logical-cpus 2       # split the CPU into two devices
    python bench/distribute.py -S train.epochs=3 -S model=fast

Trains on the real MNIST (data/raw/mnist.npz, so run `dvc repro` first) with
`none` (one device) and `mirrored` (every GPU, or every logical CPU when
there is no GPU), in this one process, and prints a line for each. On a
machine with GPUs the same command measures them.
"""

import argparse
import time

import keras
import tensorflow as tf
from in_process import composed_params, test_accuracy, train_experiment

from mnist_pipeline.dataset import RawData
from mnist_pipeline.training import distribution


class EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def split_the_cpu(count: int) -> None:
    """Several logical CPU devices; must happen before TensorFlow starts its runtime."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )


def mirrored_devices() -> list[str]:
    """Short names (GPU:0) of every GPU, or of every logical CPU when there is no GPU."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name.rsplit("device:", 1)[-1] for device in devices]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", default="data/raw/mnist.npz")
    parser.add_argument("--logical-cpus", type=int, default=1)
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    if args.logical_cpus > 1:
        split_the_cpu(args.logical_cpus)
    raw = RawData.load(args.raw)
    devices = mirrored_devices()
    settings = {
        "none": [],
        "mirrored": ["train.distribute=mirrored", f"train.devices=[{', '.join(devices)}]"],
    }
    for name, overrides in settings.items():
        params = composed_params([*args.overrides, *overrides])
        clock = EpochClock()
        model, test = train_experiment(raw, params, callbacks=[clock])
        accuracy = test_accuracy(model, test)
        replicas = distribution(params.train).num_replicas_in_sync
        epochs = ", ".join(f"{seconds:.1f}" for seconds in clock.seconds)
        print(
            f"{name:<9} {replicas} replica(s): test accuracy {accuracy:.4f}; "
            f"seconds per epoch {epochs}"
        )
    print(f"devices: {', '.join(devices)}; overrides: {' '.join(args.overrides) or 'none'}")


if __name__ == "__main__":
    main()
