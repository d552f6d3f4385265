"""Several machines training one model: this process's place in TF_CONFIG, read without TensorFlow.

Under ``train.distribute: multi_worker`` every machine runs the train stage with
its own TF_CONFIG, as TensorFlow documents for MultiWorkerMirroredStrategy:

    {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}

All of them train; only the chief (the ``chief`` task, or worker 0 when the
cluster has none) writes the model and the curves, so DVC records one set of
outputs. The others write theirs to a temporary folder that is then removed.
"""

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import PipelineError

TASK_TYPES = ("chief", "worker")  # the roles that train; parameter servers are not used
EXAMPLE = '{"cluster": {"worker": ["host1:port", ...]}, "task": {"type": "worker", "index": 0}}'


def is_chief(distribute: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process writes the outputs: always, but for the non-chief workers of a cluster.

    For ``multi_worker`` a missing or malformed TF_CONFIG is refused here, in one
    line, before TensorFlow loads.
    """
    if distribute != "multi_worker":
        return True
    cluster, task_type, index = _read_tf_config(environ.get("TF_CONFIG", ""))
    return task_type == "chief" or ("chief" not in cluster and index == 0)


def _read_tf_config(text: str) -> tuple[dict, str, int]:
    if not text.strip():
        raise PipelineError(
            "train.distribute is multi_worker, but TF_CONFIG is not set: "
            f"each machine needs one, such as {EXAMPLE}"
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = task["type"], task["index"]
        members = cluster[task_type] if task_type in TASK_TYPES else None
    except (ValueError, TypeError, KeyError) as error:
        raise PipelineError(
            f"TF_CONFIG: {_reason(error)}; expected JSON such as {EXAMPLE}"
        ) from None
    if members is None:
        raise PipelineError(f"TF_CONFIG: task type {task_type!r} is not one of {TASK_TYPES}")
    if not (isinstance(index, int) and 0 <= index < len(members)):
        raise PipelineError(
            f"TF_CONFIG: task index {index!r} is not one of the {len(members)} "
            f"{task_type} address(es) of the cluster"
        )
    return cluster, task_type, index


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} key"
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON ({error.msg} at character {error.pos})"
    return "cluster and task must be objects"


@contextmanager
def output_paths(live: Path, model: Path, *, chief: bool) -> Iterator[tuple[Path, Path]]:
    """Where training writes the curves folder and the model file.

    The chief writes them atomically in place; another worker, to a temporary
    folder removed on the way out, whatever happens.
    """
    if chief:
        with atomic_path(live, directory=True) as live_dir, atomic_path(model) as model_file:
            yield live_dir, model_file
        return
    with tempfile.TemporaryDirectory(prefix="mnist-worker-") as scratch:
        yield Path(scratch, live.name), Path(scratch, model.name)
