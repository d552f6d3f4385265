"""mnist-predict serve: the real server process on loopback, real image uploads."""

import http.client
import io
import json
import re
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_predict.serve import MAX_UPLOAD_BYTES
from tests.running import COMMAND, load, predict, running_server, start_server, stop_server

pytestmark = pytest.mark.slow  # starts server processes


@pytest.fixture(scope="module")
def server(onnx_file) -> str:
    with running_server(onnx_file) as address:
        yield address


def post(address: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(address, timeout=60)
    try:
        connection.request("POST", "/predict", body, headers or {"Content-Type": "image/png"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


BOUNDARY = "digit-boundary"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
    "Content-Type: image/png\r\n\r\n"
).encode()
PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart(field: str, data: bytes) -> tuple[bytes, dict]:
    body = PART_HEAD.replace(b'name="image"', f'name="{field}"'.encode()) + data + PART_TAIL
    return body, {"Content-Type": MULTIPART_TYPE}


def test_the_server_listens_on_loopback_only_by_default(server):
    assert server.startswith("127.0.0.1:")


def test_the_page_is_served(server):
    connection = http.client.HTTPConnection(server, timeout=60)
    connection.request("GET", "/")
    response = connection.getresponse()
    page = response.read().decode()
    assert response.status == 200 and response.getheader("content-type").startswith("text/html")
    assert '<canvas id="pad"' in page and 'id="clear"' in page


def test_an_upload_gets_the_same_answer_and_digit_as_the_command(
    server,
    onnx_file,
    user_images,
):
    path, _ = user_images["colour.jpg"]
    status, answer = post(server, path.read_bytes(), {"Content-Type": "image/jpeg"})
    assert status == 200
    (command,) = json.loads(
        predict("--model", str(onnx_file), "--format", "json", str(path)).stdout
    )
    assert answer["digit"] == command["digit"] and answer["top_k"] == command["top_k"]
    assert len(answer["top_k"]) == 3
    pixels = np.array(answer["pixels"])
    assert pixels.shape == (28, 28) and pixels.max() > 200  # ink bright on black, as MNIST


def test_a_multipart_upload_works_as_curl_sends_it(server, user_images):
    path, _ = user_images["gray.png"]
    status, answer = post(server, *multipart("image", path.read_bytes()))
    assert status == 200
    assert answer == post(server, path.read_bytes())[1]
    status, problem = post(server, *multipart("picture", path.read_bytes()))
    assert status == 400 and problem["detail"] == 'no file in the form field "image"'


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "empty upload: send an image (PNG, JPEG, ...) as the body"),
        (b"these are not pixels", "cannot read the image: not an image (Pillow cannot identify"),
        (blank_png(), "cannot read the image: no ink found"),
    ],
)
def test_a_bad_upload_gets_a_400_with_a_one_line_reason(server, body, detail):
    status, problem = post(server, body)
    assert status == 400
    assert problem["detail"].startswith(detail) and "\n" not in problem["detail"]


def test_an_upload_over_the_limit_gets_413_with_or_without_a_declared_length(server):
    too_large = b"\0" * (MAX_UPLOAD_BYTES + 1)
    assert post(server, too_large)[0] == 413
    connection = http.client.HTTPConnection(server, timeout=60)
    try:  # sent in chunks, with no Content-Length: counted as it arrives
        connection.request("POST", "/predict", iter([too_large[: 2**20]] * 11), encode_chunked=True)
        assert connection.getresponse().status == 413
    finally:
        connection.close()


class WatchedServer:
    """A server of its own, its temporary folder and everything it prints, line by line."""

    def __init__(self, onnx_file: Path, temporary: Path):
        self.temporary = temporary
        self.process, self.address = start_server(onnx_file)
        self.lines: list[str] = []
        self._printed = threading.Condition()
        # Read all the time: a server that logs a lot must never block on a full pipe.
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            with self._printed:
                self.lines.append(line.rstrip("\n"))
                self._printed.notify_all()

    def wait_until_printed(self, enough: Callable[[list[str]], bool], timeout=60) -> bool:
        with self._printed:
            return self._printed.wait_for(lambda: enough(self.lines), timeout)

    def stop(self) -> list[str]:
        """Stop the server; all it printed after its first line."""
        stop_server(self.process)
        self._reader.join(timeout=30)
        return self.lines

    def largest_temporary_file(self) -> int:
        """Bytes in the largest file the server keeps in its temporary folder.

        A spooled upload that rolled over to disk has no name there (O_TMPFILE, or
        unlinked at once): only the server's open file descriptors lead to it.
        """
        sizes = [path.stat().st_size for path in self.temporary.iterdir()]
        for descriptor in Path(f"/proc/{self.process.pid}/fd").iterdir():
            try:
                if descriptor.readlink().is_relative_to(self.temporary):
                    sizes.append(descriptor.stat().st_size)
            except OSError:  # closed since the folder was listed
                continue
        return max(sizes, default=0)


@pytest.fixture
def watched_server(onnx_file, tmp_path, monkeypatch) -> Iterator[WatchedServer]:
    temporary = (tmp_path / "server-tmp").resolve()
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # the server process's tempfile folder
    server = WatchedServer(onnx_file, temporary)
    try:
        yield server
    finally:
        server.stop()


NEEDS_PROC = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="reads the server's open files from /proc"
)
FIFTY_MB = 50 * 2**20
PIECE = b"\0" * 2**16


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing, one chunk per piece."""
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def fifty_mb_file_part() -> Iterator[bytes]:
    yield PART_HEAD
    yield from [PIECE] * (FIFTY_MB // len(PIECE))
    yield PART_TAIL


def send_until_answered(
    address: str, head: bytes, body: Iterator[bytes], after_each_piece: Callable[[], None]
) -> tuple[int, bytes]:
    """Send a request, piece by piece, until the server answers or closes: bytes sent, answer."""
    host, port = address.split(":")
    with socket.socket() as client:
        # A small send buffer: what was sent is close to what the server has read.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        client.settimeout(60)
        client.connect((host, int(port)))
        client.sendall(head)
        sent = 0
        for piece in body:
            view = memoryview(piece)
            while view:
                answered, writable, _ = select.select([client], [client], [], 60)
                if answered:
                    return sent, read_answer_head(client)
                assert writable, "the server neither read nor answered for 60 s"
                count = client.send(view)
                sent, view = sent + count, view[count:]
            after_each_piece()
        return sent, read_answer_head(client)


def read_answer_head(client: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer and (data := client.recv(65536)):
        answer += data
    return answer


def request_head(content_type: str, framing: str) -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: digits\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


@NEEDS_PROC
def test_a_chunked_50_mb_multipart_upload_is_refused_before_it_is_all_sent(watched_server):
    largest = [0]

    def note_the_largest_temporary_file() -> None:
        largest[0] = max(largest[0], watched_server.largest_temporary_file())

    sent, answer = send_until_answered(
        watched_server.address,
        request_head(MULTIPART_TYPE, "Transfer-Encoding: chunked"),
        chunked(fifty_mb_file_part()),
        note_the_largest_temporary_file,
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert largest[0] <= MAX_UPLOAD_BYTES, f"{largest[0]} bytes on the server's disk"
    # The limit, plus what the server's socket buffer held when it sent the 413.
    assert sent < 2 * MAX_UPLOAD_BYTES < FIFTY_MB


def test_a_chunked_50_mb_body_is_refused_before_it_is_all_sent(server):
    sent, answer = send_until_answered(
        server,
        request_head("application/octet-stream", "Transfer-Encoding: chunked"),
        chunked(iter([PIECE] * (FIFTY_MB // len(PIECE)))),
        lambda: None,
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent < 2 * MAX_UPLOAD_BYTES < FIFTY_MB


DROPPED = re.compile(r"^WARNING: +127\.0\.0\.1:\d+ disconnected mid-upload, after \d+ bytes$")


def test_50_clients_that_drop_mid_upload_cost_a_log_line_each(watched_server, user_images):
    head = request_head("image/png", f"Content-Length: {2**20}")
    host, port = watched_server.address.split(":")
    clients = [socket.create_connection((host, int(port)), timeout=60) for _ in range(50)]
    for client in clients:
        client.sendall(head + PIECE[:1000])  # a thousand of the 1 MiB it promised
    for client in clients:
        client.close()

    def all_fifty_told(lines: list[str]) -> bool:
        told = [line for line in lines if "mid-upload" in line or "Exception in ASGI" in line]
        return len(told) >= 50

    assert watched_server.wait_until_printed(all_fifty_told), watched_server.lines
    image = user_images["gray.png"][0].read_bytes()
    assert post(watched_server.address, image)[0] == 200  # and it goes on serving
    lines = watched_server.stop()
    assert not [line for line in lines if "Traceback" in line or "Exception in ASGI" in line]
    assert len(lines) == 50 and all(DROPPED.match(line) for line in lines), lines


def test_500_requests_from_8_clients_all_succeed(server, user_images):
    image = user_images["gray.png"][0].read_bytes()
    results = load(server, image, requests=500, clients=8)
    assert [status for _, status in results] == [200] * 500


def test_a_port_in_use_is_one_clear_error(onnx_file):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(COMMAND), "serve", "--port", str(port), "--model", str(onnx_file)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_a_missing_model_stops_serve_before_it_listens(tmp_path):
    result = subprocess.run(
        [str(COMMAND), "serve", "--port", "0", "--model", str(tmp_path / "model.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "serving on" not in result.stdout
    assert result.stderr.startswith(f"error: {tmp_path / 'model.onnx'}: model file not found")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_the_server_cleanly(onnx_file, stop):
    server, _ = start_server(onnx_file)
    try:
        server.send_signal(stop)
        assert server.wait(timeout=60) == 0
        assert server.stdout.read() == ""  # stderr goes there too: no error line
    finally:
        stop_server(server)
