"""mnist-predict serve: the real server process on loopback, real image uploads."""

import http.client
import io
import json
import signal
import socket
import subprocess

import numpy as np
import pytest
from PIL import Image

from bench.serve_load import COMMAND, load, running_server, start_server, stop_server
from mnist_pipeline.serve import MAX_UPLOAD_BYTES
from tests.test_predict import predict

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


def multipart(field: str, data: bytes) -> tuple[bytes, dict]:
    boundary = "digit-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="d.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


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
