"""The ONNX export: the same weights give the same bytes, and a bad export is refused."""

import subprocess
import sys

import numpy as np
import onnx
import pytest

from mnist_pipeline.errors import PipelineError
from mnist_pipeline.onnx_export import INPUT_NAME, OUTPUT_NAME, check_parity, parity

# Builds the `best` network (batch norm and dropout, the ones that change at inference) with
# fixed weights and prints its export's bytes as hex: tf2onnx's choices vary per process.
# It first traces as many unrelated TensorFlow functions as its argument says, since
# TensorFlow numbers functions by a counter of the process that tf2onnx copies.
EXPORT_IN_A_FRESH_PROCESS = """
import sys
import tensorflow as tf
for power in range(int(sys.argv[1])):
    tf.function(lambda x: x ** power)(tf.constant(2.0))
from mnist_pipeline.models import inference_model, make_network
from mnist_pipeline.onnx_export import export_onnx
from mnist_pipeline.params.train import model_params
from mnist_pipeline.training import make_deterministic
from tests.conftest import tiny_model

make_deterministic(0)
network = inference_model(make_network(model_params(tiny_model(arch="best"))))
sys.stdout.write(export_onnx(network).hex())
"""


def exported_in_a_fresh_process(functions_traced_before: int) -> bytes:
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_IN_A_FRESH_PROCESS, str(functions_traced_before)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return bytes.fromhex(result.stdout)


@pytest.mark.slow
def test_two_exports_of_the_same_weights_are_the_same_bytes():
    first, second = exported_in_a_fresh_process(0), exported_in_a_fresh_process(30)
    assert first == second, where_they_differ(first, second)
    graph = onnx.load_from_string(first)
    onnx.checker.check_model(graph, full_check=True)
    assert [value.name for value in graph.graph.input] == [INPUT_NAME]
    assert [value.name for value in graph.graph.output] == [OUTPUT_NAME]
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def where_they_differ(first: bytes, second: bytes) -> str:
    """The parts of two exports that differ, shorter than a diff of a megabyte of bytes."""
    graphs = [onnx.load_from_string(export).graph for export in (first, second)]
    parts = {
        "doc string": lambda graph: graph.doc_string,
        "nodes": lambda graph: [(node.op_type, *node.input, *node.output) for node in graph.node],
        "node attributes": lambda graph: [str(node.attribute) for node in graph.node],
        "constants": lambda graph: [(tensor.name, tensor.raw_data) for tensor in graph.initializer],
    }
    differing = [name for name, part in parts.items() if part(graphs[0]) != part(graphs[1])]
    return f"the exports differ in: {', '.join(differing) or 'something else'}"


def probabilities(rows: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).random((rows, 10))
    return values / values.sum(axis=1, keepdims=True)


def test_parity_counts_agreement_and_the_largest_difference():
    reference = probabilities(1000, seed=0)
    exported = reference.copy()
    exported[0] = np.roll(exported[0], 1)  # one digit answered differently
    found = parity(reference, exported)
    assert found["digits_checked"] == 1000
    assert found["agreement"] == pytest.approx(0.999)
    assert found["max_probability_difference"] == pytest.approx(
        np.abs(reference[0] - exported[0]).max(), rel=1e-2
    )


@pytest.mark.parametrize(
    ("shift", "words"),
    [
        (lambda p: p + 2e-4, "probabilities differ by up to 0.0002 (at most 0.0001 allowed)"),
        (lambda p: np.roll(p, 1, axis=1), "it agrees on"),
    ],
)
def test_an_export_that_strays_from_keras_is_refused(shift, words):
    reference = probabilities(10_000, seed=1)
    with pytest.raises(PipelineError, match="nothing was written") as refused:
        check_parity(parity(reference, shift(reference)))
    assert words in str(refused.value)


def test_an_export_within_the_bounds_passes():
    reference = probabilities(10_000, seed=2)
    check_parity(parity(reference, reference + 5e-5))
