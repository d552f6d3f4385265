"""Train stage processes as the workers of a cluster on 127.0.0.1, as machines would run it.

Shared by tests/test_distribute.py and bench/multi_worker.py.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def tf_configs(count: int) -> list[str]:
    """One TF_CONFIG per worker of a cluster on free ports of 127.0.0.1."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(count)
    ]


def start_train_stage(params: Path, data: Path, out: Path, env: dict, **streams):
    """``stages/train.py`` as DVC runs it, writing ``out/model.keras`` and ``out/live``."""
    command = [
        sys.executable, str(REPO / "stages/train.py"), "--params", str(params),
        "--data", str(data), "--model", str(out / "model.keras"), "--live", str(out / "live"),
    ]  # fmt: skip
    environ = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.Popen(command, env=environ, **streams)
