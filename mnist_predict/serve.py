"""mnist-predict serve: a page to draw a digit on, and a JSON endpoint for programs.

    GET  /          the page: draw with mouse or finger, or drop an image file
    POST /predict   an image as the request body (or a multipart field "image")
                    -> {"digit", "probability", "top_k", "pixels"}

Uploads go through the same ``read_digit`` as the command, so the page, the
endpoint and ``mnist-predict`` see the same 28x28 digit. Their bytes are counted
as they arrive, chunked or not, and refused (413) past MAX_UPLOAD_BYTES; none
of them is written to disk. The server listens on 127.0.0.1 unless told
otherwise: it is for one user's machine.
"""

import io
import logging
import os
import signal
import socket
from collections.abc import AsyncGenerator
from dataclasses import asdict
from importlib.resources import files

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from mnist_pipeline.errors import PipelineError, os_reason
from mnist_predict.prediction import predict_pixels
from mnist_predict.reading import BadImageError, read_digit

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a phone photo fits; a digit needs far less
TOP_K = 3
PAGE = files("mnist_predict") / "page" / "index.html"
# uvicorn's own log: its format, and the level `serve` sets for it.
_log = logging.getLogger("uvicorn.error")


def create_app(classifier) -> FastAPI:
    """The web app around a classifier from ``mnist_pipeline.classifier.load_classifier``."""
    app = FastAPI(title="mnist-predict", docs_url=None, redoc_url=None)
    page = PAGE.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def show_page() -> str:
        return page

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        upload = await _upload(request)
        # Decoding and the model are CPU work: off the event loop, so requests overlap.
        return await run_in_threadpool(_predict, classifier, upload)

    return app


def _predict(classifier, upload: bytes) -> dict:
    try:
        pixels = read_digit(io.BytesIO(upload))
    except BadImageError as error:
        raise HTTPException(400, f"cannot read the image: {error}") from None
    (prediction,) = predict_pixels(classifier, pixels[None], TOP_K)
    return {**asdict(prediction), "pixels": pixels.tolist()}


async def _upload(request: Request) -> bytes:
    """The image's bytes, from the body or a multipart field; 413 past the size limit."""
    body = await _bounded_body(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _form_image(request.headers, body)
    if not body:
        raise HTTPException(400, "empty upload: send an image (PNG, JPEG, ...) as the body")
    return body


async def _bounded_body(request: Request) -> bytes:
    """The body as it arrives, whatever its framing; 413 as soon as it passes the limit.

    Counting here, before any parsing, is what bounds a chunked upload (no length
    to check first) and keeps the rest of it off the disk and out of memory.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise _too_large()  # refused before a byte of the body is read
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > MAX_UPLOAD_BYTES:
                raise _too_large()
            body += chunk
    except ClientDisconnect:
        raise _dropped(request, len(body)) from None
    return bytes(body)


class _InMemoryMultiPartParser(MultiPartParser):
    # Starlette spools a file part past 1 MB to a temporary file on disk. The whole
    # body is already in memory and within the limit: its file part stays there too.
    spool_max_size = MAX_UPLOAD_BYTES


async def _form_image(headers: Headers, body: bytes) -> bytes:
    parser = _InMemoryMultiPartParser(
        headers, _as_stream(body), max_files=1, max_fields=10, max_part_size=MAX_UPLOAD_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:  # as Starlette's request.form() answers it
        raise HTTPException(400, error.message) from None
    try:
        image = form.get("image")
        if image is None or isinstance(image, str):
            raise HTTPException(400, 'no file in the form field "image"')
        return await image.read()
    finally:
        await form.close()


async def _as_stream(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def _dropped(request: Request, received: int) -> HTTPException:
    """One line for a client that went away mid-upload, instead of uvicorn's traceback."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    _log.warning("%s disconnected mid-upload, after %d bytes", client, received)
    # Nobody is left to read this answer: it ends the request without an error.
    return HTTPException(400, "the client disconnected before the upload was complete")


def _too_large() -> HTTPException:
    return HTTPException(413, f"upload too large: at most {MAX_UPLOAD_BYTES // 2**20} MiB")


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so that a port in use is one clear error, not a log line."""
    try:
        return socket.create_server((host, port))
    except OSError as error:
        # socket.create_server appends the address to strerror; the errno alone says it.
        reason = os.strerror(error.errno) if error.errno else os_reason(error)
        raise PipelineError(f"cannot listen on {host}:{port}: {reason}") from None


def serve(classifier, host: str, port: int) -> None:
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            # Tests and scripts wait for this line: from now on a request is answered,
            # and Ctrl+C or SIGTERM stops the server.
            print(f"serving on http://{bound_host}:{bound_port} (Ctrl+C stops)", flush=True)

    sock = listening_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    server = AnnouncingServer(uvicorn.Config(create_app(classifier), log_level="warning"))
    # uvicorn stops by itself on Ctrl+C or SIGTERM, then raises the signal again for
    # the handler it found. Ignored then, a stop the user asked for is a clean exit.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    server.run(sockets=[sock])
