"""Model builders: each takes the model params and returns a ``keras.Model``.

No I/O here. Every model is self-contained: it takes raw uint8 pixels 0-255,
(N, 28, 28, 1) or (N, 28, 28), scales them itself, and outputs 10 class
probabilities; the saved model holds only Keras's own layers, so plain
``keras.models.load_model`` reads it without this package.
``make_network`` adds the training-only augmentation (Keras's layers, and
``RandomStrokeWidth``); ``inference_model`` takes it off again for saving.
The optimizer, schedule and loss are training's (``training.build_model``).
"""

import keras
from keras import layers

from mnist_pipeline.dataset import IMAGE_SHAPE, NUM_CLASSES
from mnist_pipeline.params.train import AugmentParams, ModelParams, NormalisedModel, PlainModel

# One grey channel; Keras adds it to (N, 28, 28) input itself.
INPUT_SHAPE = (*IMAGE_SHAPE, 1)
AUGMENT_PREFIX = "augment_"  # names the training-only layers, which the saved model leaves out


def _output() -> layers.Layer:
    # float32 even under mixed precision: softmax and the loss need the range.
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")


def _dropout(rate: float) -> list[layers.Layer]:
    return [layers.Dropout(rate)] if rate > 0 else []


def _conv_block(
    filters: int, params: NormalisedModel, kernel: int = 3, strides: int = 1, padding: str = "same"
) -> list[layers.Layer]:
    """Conv -> (batch norm) -> ReLU: the normalisation sits before the activation."""
    conv = {"kernel_size": kernel, "strides": strides, "padding": padding}
    if not params.batch_norm:
        return [layers.Conv2D(filters, activation="relu", **conv)]
    return [
        layers.Conv2D(filters, use_bias=False, **conv),
        # Keras's default momentum (0.99) averages over the last few hundred steps,
        # which lags a short run's weights; 0.9 (PyTorch's 0.1) keeps up.
        layers.BatchNormalization(momentum=0.9),
        layers.ReLU(),
    ]


def basic(params: PlainModel) -> list[layers.Layer]:
    """The standard MNIST CNN: two conv/pool blocks, one hidden dense layer (~225k weights)."""
    return [
        layers.Conv2D(32, 3, activation="relu"),  # -> 26x26x32
        layers.MaxPooling2D(2),  # -> 13x13x32
        layers.Conv2D(64, 3, activation="relu"),  # -> 11x11x64
        layers.MaxPooling2D(2),  # -> 5x5x64
        layers.Flatten(),  # -> 1600
        layers.Dense(128, activation="relu"),
        *_dropout(params.dropout),
        _output(),
    ]


def deep(params: PlainModel) -> list[layers.Layer]:
    """Three 3x3 convs, two pools, two hidden dense layers."""
    return [
        layers.Conv2D(32, 3, activation="relu"),  # -> 26x26x32
        layers.Conv2D(64, 3, activation="relu"),  # -> 24x24x64
        layers.MaxPooling2D(2),  # -> 12x12x64
        layers.Conv2D(64, 3, activation="relu"),  # -> 10x10x64
        layers.MaxPooling2D(2),  # -> 5x5x64
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        *_dropout(params.dropout),
        _output(),
    ]


def bn_dropout(params: NormalisedModel) -> list[layers.Layer]:
    """Two conv blocks, each normalised, pooled and dropped out; one hidden dense layer."""
    return [
        *_conv_block(32, params),
        layers.MaxPooling2D(2),
        *_dropout(params.dropout),  # 14x14
        *_conv_block(64, params),
        layers.MaxPooling2D(2),
        *_dropout(params.dropout),  # 7x7
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        *_dropout(params.dropout),
        _output(),
    ]


def fast(params: NormalisedModel) -> list[layers.Layer]:
    """Three strided convs and no pooling: 28 -> 14 -> 7 -> 4, about 1.3M multiply-adds an image.

    On a 2-core CPU training time is compute-bound, so this spends its budget
    where it pays: a cheap 5x5 first layer, and the widest layer at the smallest map.
    24-48-96 keeps every seed above 99.0% in two epochs (bench/results_table.py --arch fast).
    """
    return [
        *_conv_block(24, params, kernel=5, strides=2),  # -> 14x14x24
        *_conv_block(48, params, strides=2),  # -> 7x7x48
        *_conv_block(96, params, strides=2),  # -> 4x4x96
        layers.Flatten(),
        *_dropout(params.dropout),
        _output(),
    ]


def best(params: NormalisedModel) -> list[layers.Layer]:
    """Two stages of two 3x3 convs and a strided 5x5 one, then a 4x4 conv as the dense layer.

    The design of the strongest single Kaggle MNIST CNNs (C. Deotte, 2018);
    it needs augmentation and dropout to pay off.
    """
    stages = []
    for filters in (32, 64):  # 28 -> 26 -> 24 -> 12, then 12 -> 10 -> 8 -> 4
        stages += [
            *_conv_block(filters, params, padding="valid"),
            *_conv_block(filters, params, padding="valid"),
            *_conv_block(filters, params, kernel=5, strides=2),
            *_dropout(params.dropout),
        ]
    return [
        *stages,
        *_conv_block(128, params, kernel=4, padding="valid"),  # -> 1x1x128
        layers.Flatten(),
        *_dropout(params.dropout),
        _output(),
    ]


# The one registry of builders; params/train.py's ModelParams names the same (a test checks).
ARCHITECTURES = {"basic": basic, "deep": deep, "bn_dropout": bn_dropout, "fast": fast, "best": best}


class RandomStrokeWidth(layers.Layer):
    """Thicker or thinner strokes on a share of the training images: markers, fine pens.

    MNIST's strokes span a narrow band of widths; users' markers and pens do not.
    With probability ``rate`` an image's ink is dilated by a 3x3 or a 5x5 window
    or eroded by a 2x2 one (grey-level morphology: a max filter on the ink, or on
    the paper), a third of those each. Keras has no such layer; it is idle at
    inference and the saved model leaves it out.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        choice = keras.random.uniform(
            (keras.ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator
        )
        share = self.rate / 3
        variants = [
            keras.ops.max_pool(images, 3, strides=1, padding="same"),
            keras.ops.max_pool(images, 5, strides=1, padding="same"),
            -keras.ops.max_pool(-images, 2, strides=1, padding="same"),
        ]
        out = images
        for index, variant in enumerate(variants):
            chosen = (choice >= index * share) & (choice < (index + 1) * share)
            out = keras.ops.where(chosen, variant, out)
        return out

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def augmentation(params: AugmentParams) -> list[layers.Layer]:
    """Random distortions; Keras applies them only in training, never at inference."""
    fill = {"fill_mode": "constant"}
    augment = []
    if params.stroke_width > 0:
        augment.append(RandomStrokeWidth(params.stroke_width, name=f"{AUGMENT_PREFIX}stroke_width"))
    if params.rotation_degrees > 0:
        rotation = params.rotation_degrees / 360  # Keras takes a fraction of a full turn
        augment.append(layers.RandomRotation(rotation, name=f"{AUGMENT_PREFIX}rotation", **fill))
    if params.translation > 0:
        shift = params.translation
        augment.append(
            layers.RandomTranslation(shift, shift, name=f"{AUGMENT_PREFIX}translation", **fill)
        )
    if params.zoom > 0:
        augment.append(layers.RandomZoom(params.zoom, name=f"{AUGMENT_PREFIX}zoom", **fill))
    return augment


def make_network(params: ModelParams) -> keras.Sequential:
    """Pixels 0-255 in, probabilities out; augmentation (if any) right after the scaling."""
    return _sequential(
        params.arch,
        [
            layers.Rescaling(1 / 255, name="pixels_to_unit_range"),
            *augmentation(params.augment),
            *ARCHITECTURES[params.arch](params),
        ],
    )


def inference_model(network: keras.Sequential) -> keras.Sequential:
    """The trained network without its augmentation layers, sharing its weights; uncompiled.

    Without the optimizer and loss, the saved file needs nothing but Keras to load.
    """
    kept = [layer for layer in network.layers if not layer.name.startswith(AUGMENT_PREFIX)]
    return _sequential(network.name, kept)


def _sequential(name: str, layers_: list[layers.Layer]) -> keras.Sequential:
    return keras.Sequential([keras.Input(INPUT_SHAPE, dtype="uint8"), *layers_], name=name)
