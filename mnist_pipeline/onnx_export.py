"""The trained Keras model as ONNX, byte-stable, checked against Keras on real digits.

Conversion is Keras's own ``model.export(format="onnx")`` (tf2onnx underneath).
tf2onnx names what it creates from counters and merges equal constants in an
order that varies between processes, and its graph's doc string names the
traced TensorFlow function, whose number counts the functions the process has
traced before. So two exports of the same weights differ. ``canonical_graph``
renames every tensor and node by its position in the graph, which the
conversion does keep, and states the doc string, so the same weights give the
same file and DVC's hash of it means something.
"""

import itertools
import tempfile
from pathlib import Path

import numpy as np
import onnx

from mnist_pipeline.errors import PipelineError

OPSET = 17  # pinned: a newer tf2onnx must not change the file; onnxruntime >= 1.13 runs it
INPUT_NAME = "pixels"  # uint8 (N, 28, 28, 1), 0-255
OUTPUT_NAME = "probabilities"  # float32 (N, 10)
BATCH_DIMENSION = "batch"
DOC_STRING = "mnist-pipeline: a Keras digit classifier converted by tf2onnx"
# What "the same model" means, checked on every test digit.
MIN_AGREEMENT = 0.9999  # share of digits on which both give the same answer
MAX_DIFFERENCE = 1e-4  # largest difference of any probability


def export_onnx(model) -> bytes:
    """The canonical ONNX bytes of a Keras model that takes uint8 digits."""
    import tensorflow as tf

    signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name=INPUT_NAME)]
    with tempfile.TemporaryDirectory() as scratch:
        converted = Path(scratch) / "model.onnx"
        model.export(
            converted, format="onnx", input_signature=signature, opset_version=OPSET, verbose=False
        )
        graph = onnx.load(converted)
    return canonical_graph(graph).SerializeToString(deterministic=True)


def canonical_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Name every node, tensor and constant by its position; keep the input and output names."""
    graph = model.graph
    (graph_input,) = graph.input
    (graph_output,) = graph.output
    names = {graph_input.name: INPUT_NAME, graph_output.name: OUTPUT_NAME}
    constants = {tensor.name: tensor for tensor in graph.initializer}
    constant_names = (f"constant_{number}" for number in itertools.count())
    for position, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{position}"
        for index, value in enumerate(node.output):
            names.setdefault(value, f"{node.name}:{index}")
        for value in node.input:
            if value in constants and value not in names:
                names[value] = next(constant_names)
    for node in graph.node:
        node.input[:] = [names.get(value, value) for value in node.input]
        node.output[:] = [names[value] for value in node.output]
    _order_constants(graph, constants, names)
    for value in (graph_input, graph_output):
        value.name = names[value.name]
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIMENSION
    del graph.value_info[:]  # shape hints named after the old tensors; onnxruntime infers them
    graph.doc_string = DOC_STRING
    return model


def _order_constants(graph, constants: dict, names: dict[str, str]) -> None:
    """Constants in order of first use, under their new names (unused ones dropped)."""
    used = [name for name in names if name in constants]
    ordered = [constants[name] for name in used]
    for tensor in ordered:
        tensor.name = names[tensor.name]
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def parity(reference: np.ndarray, exported: np.ndarray) -> dict[str, float]:
    """How closely the exported model's probabilities follow the Keras model's."""
    return {
        "agreement": round(float(np.mean(reference.argmax(1) == exported.argmax(1))), 6),
        "max_probability_difference": float(f"{np.abs(reference - exported).max():.3g}"),
        "digits_checked": len(reference),
    }


def check_parity(found: dict[str, float]) -> None:
    """Refuse an export that does not behave as the Keras model does."""
    if found["agreement"] < MIN_AGREEMENT or found["max_probability_difference"] > MAX_DIFFERENCE:
        raise PipelineError(
            f"the ONNX model differs from the Keras model: it agrees on "
            f"{found['agreement']:.4%} of test digits (at least {MIN_AGREEMENT:.2%} needed) and "
            f"its probabilities differ by up to {found['max_probability_difference']:.3g} "
            f"(at most {MAX_DIFFERENCE:g} allowed); nothing was written"
        )
