"""Two products, one way round: the app (mnist_predict) uses the pipeline's model, not the reverse.

The import graph of both packages, read from their source (function-level
imports too), has no cycle; no pipeline module or stage script imports the app;
and the app reaches only the model's side of the pipeline. A prediction, run as
the command runs, loads no training, plotting or data-frame library.
"""

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

PIPELINE, APP = "mnist_pipeline", "mnist_predict"
# What the app may use of the pipeline: the classifier and what it stands on, atomic
# writes, and the grid's figure (matplotlib, only for --grid).
MODEL_SIDE = {
    PIPELINE,
    f"{PIPELINE}.atomic",
    f"{PIPELINE}.classifier",
    f"{PIPELINE}.dataset",
    f"{PIPELINE}.errors",
    f"{PIPELINE}.figures",
    f"{PIPELINE}.modelfile",  # a .keras model: TensorFlow, only when one is asked for
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for package in (PIPELINE, APP)
    for path in sorted((REPO / package).rglob("*.py"))
}


def imported(path: Path) -> set[str]:
    """The modules of both packages that ``path`` imports, and the packages importing them runs."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports a module too.
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    parents = {name.rsplit(".", end)[0] for name in names for end in range(1, name.count(".") + 1)}
    return (names | parents) & MODULES.keys()


GRAPH = {name: imported(path) - {name} for name, path in MODULES.items()}


def reachable(start: str) -> set[str]:
    seen, pending = set(), [start]
    while pending:
        for module in GRAPH[pending.pop()] - seen:
            seen.add(module)
            pending.append(module)
    return seen


def test_both_packages_have_modules_to_check():
    assert {f"{APP}.cli", f"{APP}.serve", f"{PIPELINE}.classifier"} <= MODULES.keys()


def test_no_module_of_either_package_is_part_of_an_import_cycle():
    # A package's __init__ runs before its modules: a module importing its own package is
    # no cycle, unless the __init__ imports the module back, which the sorter catches.
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


@pytest.mark.parametrize(
    "path",
    [*(path for name, path in MODULES.items() if name.startswith(PIPELINE)),
     *sorted((REPO / "stages").glob("*.py"))],
    ids=lambda path: str(path.relative_to(REPO)),
)  # fmt: skip
def test_the_pipeline_never_imports_the_app(path):
    assert not {name for name in imported(path) if name.startswith(APP)}


@pytest.mark.parametrize("name", [name for name in MODULES if name.startswith(APP)])
def test_the_app_uses_only_the_model_side_of_the_pipeline(name):
    used = {module for module in reachable(name) if module.startswith(PIPELINE)}
    assert used <= MODEL_SIDE, sorted(used - MODEL_SIDE)


# mnist-predict as its entry point runs it; then every module it loaded, into a file.
RUN_AND_LIST_MODULES = """
import atexit, json, sys
listing = sys.argv.pop(1)
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
from mnist_predict.cli import main
main()
"""
NEVER_FOR_A_PREDICTION = ("tensorflow", "keras", "matplotlib", "seaborn", "pandas", "sklearn")


def tiny_onnx_model(path: Path) -> Path:
    """A valid model for the command, made without TensorFlow: uint8 digits in, softmax out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(28 * 28, 10)).astype(np.float32) / 1000
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["floats"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["floats", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        [
            numpy_helper.from_array(np.array([-1, 28 * 28], np.int64), "flat_shape"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime of the lock reads
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def loaded_modules(tmp_path: Path, *args: str) -> set[str]:
    """The top-level names of the modules ``mnist-predict ARGS`` loaded; it must succeed."""
    listing = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, str(listing), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(listing.read_text()))


@pytest.mark.parametrize("grid", [False, True], ids=["table", "grid"])
def test_a_prediction_loads_no_training_plotting_or_data_frame_library(tmp_path, tiny_mnist, grid):
    image = tmp_path / "digit.png"
    Image.fromarray(tiny_mnist.x_test[0]).save(image)
    model = tiny_onnx_model(tmp_path / "model.onnx")
    options = ["--grid", str(tmp_path / "grid.png")] if grid else []
    modules = loaded_modules(tmp_path, "--model", str(model), *options, str(image))
    assert f"{APP}.cli" in modules and "onnxruntime" in modules
    top_level = {name.split(".")[0] for name in modules}
    # --grid alone draws with matplotlib, and nothing of the report's data tools.
    never = [name for name in NEVER_FOR_A_PREDICTION if not (grid and name == "matplotlib")]
    assert not top_level & set(never), sorted(top_level & set(never))
    assert {name for name in modules if name.startswith(PIPELINE)} <= MODEL_SIDE
    assert ("matplotlib" in top_level) == grid
