"""Latency of `mnist-predict serve` under load: concurrent clients on loopback.

Starts the real server on a free port of 127.0.0.1, sends --requests POST
/predict requests (a real digit PNG each) from --clients threads at once, and
prints how many failed and the latency percentiles; the server is always stopped.

    python bench/serve_load.py [--model models/model.onnx] [--requests 500] [--clients 8]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.running import load, running_server

DIGIT = Path(__file__).resolve().parents[1] / "docs/examples/mnist_test_1.png"


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
