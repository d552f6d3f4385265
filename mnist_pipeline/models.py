"""Model builders: each takes the model params and returns a compiled ``keras.Model``.

No I/O here. Every model takes what ``dataset.to_model_input`` produces,
float32 images (N, 28, 28, 1) in [0, 1], and outputs 10 class probabilities.
"""

import keras
from keras import layers

from mnist_pipeline.params import ModelParams, TrainParams

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def basic() -> keras.Sequential:
    """The standard MNIST CNN: two conv/pool blocks, one hidden dense layer (~225k weights)."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),  # -> 26x26x32
            layers.MaxPooling2D(2),  # -> 13x13x32
            layers.Conv2D(64, 3, activation="relu"),  # -> 11x11x64
            layers.MaxPooling2D(2),  # -> 5x5x64
            layers.Flatten(),  # -> 1600
            layers.Dense(128, activation="relu"),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="basic",
    )


ARCHITECTURES = {"basic": basic}


def build_model(model: ModelParams, train: TrainParams) -> keras.Model:
    """The architecture named in ``model.arch``, compiled with the training settings."""
    network = ARCHITECTURES[model.arch]()
    network.compile(
        optimizer=make_optimizer(train),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return network


def make_optimizer(train: TrainParams) -> keras.optimizers.Optimizer:
    if train.optimizer == "adam":
        return keras.optimizers.Adam(train.learning_rate)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(train.learning_rate)
    return keras.optimizers.SGD(train.learning_rate, momentum=0.9, nesterov=True)
