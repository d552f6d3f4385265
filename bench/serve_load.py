"""Latency of `mnist-predict serve` under load: concurrent clients on loopback.

Starts the real server on a free port of 127.0.0.1, sends --requests POST
/predict requests (a real digit PNG each) from --clients threads at once, and
prints how many failed and the latency percentiles; the server is always stopped.

    python bench/serve_load.py [--model models/model.onnx] [--requests 500] [--clients 8]
"""

import argparse
import http.client
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

COMMAND = Path(sys.executable).parent / "mnist-predict"
DIGIT = Path(__file__).resolve().parents[1] / "docs/examples/mnist_test_1.png"


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
def running_server(model: Path):
    """The server for the length of a ``with`` block; yields its address. Always stopped."""
    server, address = start_server(model)
    try:
        yield address
    finally:
        stop_server(server)


def one_request(address: str, image: bytes) -> tuple[float, int]:
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
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: one_request(address, image), range(requests)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    image = DIGIT.read_bytes()
    with running_server(args.model) as address:
        started = time.perf_counter()
        results = load(address, image, args.requests, args.clients)
        seconds = time.perf_counter() - started
    failed = sum(status != 200 for _, status in results)
    milliseconds = sorted(1000 * latency for latency, _ in results)
    p50, p95 = (milliseconds[int(q * (len(milliseconds) - 1))] for q in (0.50, 0.95))
    print(f"{len(results)} requests from {args.clients} clients, {failed} failed")
    print(
        f"latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {milliseconds[-1]:.1f} ms, "
        f"mean {statistics.fmean(milliseconds):.1f} ms; {len(results) / seconds:.0f} requests/s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
