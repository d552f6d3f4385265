"""mnist-predict run as a user runs it: the installed command, and its server on a free port.

Shared by the tests, bench/serve_load.py and docs/screenshot.py.
"""

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

COMMAND = Path(sys.executable).parent / "mnist-predict"


def predict(*args: str) -> subprocess.CompletedProcess:
    """``mnist-predict ARGS...``: its exit status, stdout and stderr."""
    return subprocess.run([str(COMMAND), *args], capture_output=True, text=True, check=False)


def start_server(model: Path) -> tuple[subprocess.Popen, str]:
    """`mnist-predict serve --port 0`, and its address once it says it is listening."""
    server = subprocess.Popen(
        [str(COMMAND), "serve", "--port", "0", "--model", str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = server.stdout.readline()  # the first line says where, or why not
    if not line.startswith("serving on "):
        stop_server(server)
        raise RuntimeError(f"the server did not start: {line.strip() or server.returncode}")
    return server, urlsplit(line.split()[2]).netloc


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def running_server(model: Path) -> Iterator[str]:
    """The server for the length of a ``with`` block; yields its address. Always stopped."""
    server, address = start_server(model)
    try:
        yield address
    finally:
        stop_server(server)


def one_request(address: str, image: bytes) -> tuple[float, int]:
    """POST /predict once: seconds to the whole answer, and its status (0: no answer)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(address, timeout=30)
    try:
        connection.request("POST", "/predict", image, {"Content-Type": "image/png"})
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        connection.close()
    return time.perf_counter() - started, status


def load(address: str, image: bytes, requests: int, clients: int) -> list[tuple[float, int]]:
    """``requests`` POSTs of ``image`` from ``clients`` threads at once."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: one_request(address, image), range(requests)))
