"""`emostyle app` as a server: its routes, the mirror's WebSocket, and the command's errors."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("content-type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


@pytest.fixture(scope="module")
def frame_jpeg(astronaut) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.resize(astronaut, (640, 480))[:, :, ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes()


@pytest.fixture(scope="module")
def ws_connect():  # noqa: ANN201
    client = pytest.importorskip("websockets.sync.client",
                                 reason="websockets (a streamlit dependency) is missing")
    return client.connect


def test_pages_and_mirror_routes_are_served(app_url):
    status, kind, body = get(app_url + "/")
    assert status == 200 and "text/html" in kind
    status, kind, body = get(app_url + "/mirror")
    assert status == 200 and "text/html" in kind
    assert b"getUserMedia" in body and b'"happy"' in body
    status, kind, body = get(app_url + "/mirror/emoji/happy.png")
    assert status == 200 and kind == "image/png" and body[:4] == b"\x89PNG"
    assert get(app_url + "/mirror/emoji/elated.png")[0] == 404


def test_mirror_websocket_round_trip(app_url, ws_connect, frame_jpeg):
    url = app_url.replace("http", "ws") + "/mirror/ws?model=default&smoothing=0.5"
    with ws_connect(url, open_timeout=10) as ws:
        times = []
        for _ in range(10):
            started = time.perf_counter()
            ws.send(frame_jpeg)
            reply = json.loads(ws.recv(timeout=30))
            times.append(time.perf_counter() - started)
        face = reply["faces"][0]
        assert face["emotion"] == "happy" and face["id"] == 1 and reply["frame"] == 10
        print(f"mirror WebSocket round trip {1000 * sorted(times)[5]:.1f} ms "
              f"(server {reply['ms']} ms)")
        # Bad messages get an error reply; the stream goes on.
        ws.send("hello")
        assert json.loads(ws.recv(timeout=10)) == {"error": "expected a JPEG frame"}
        ws.send(b"\x00garbage")
        assert "not a JPEG or PNG" in json.loads(ws.recv(timeout=10))["error"]
        ws.send(frame_jpeg)
        assert json.loads(ws.recv(timeout=30))["faces"][0]["id"] == 1


@pytest.mark.parametrize("query", ["model=../../etc/passwd", "smoothing=0", "smoothing=abc"])
def test_mirror_websocket_refuses_bad_settings(app_url, ws_connect, query):
    with ws_connect(app_url.replace("http", "ws") + "/mirror/ws?" + query,
                    open_timeout=10) as ws:
        reply = json.loads(ws.recv(timeout=10))
    assert reply["fatal"] is True and reply["error"]


def test_app_command_refuses_a_busy_port():
    from emostyle.cli import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(app, ["app", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} is in use" in result.output and "Traceback" not in result.output


def test_app_command_refuses_an_unknown_host():
    from emostyle.cli import app

    result = CliRunner().invoke(app, ["app", "--host", "no-such-host.invalid"])
    assert result.exit_code == 2 and "not a known address" in result.output



def test_app_command_refuses_an_address_of_another_machine():
    from emostyle.cli import app

    result = CliRunner().invoke(app, ["app", "--host", "192.0.2.1"])  # TEST-NET-1
    assert result.exit_code == 2 and "cannot listen there" in result.output


def test_mirror_websocket_refuses_a_foreign_origin(app_url, ws_connect, frame_jpeg):
    from websockets.exceptions import InvalidStatus

    url = app_url.replace("http", "ws") + "/mirror/ws"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url, open_timeout=10, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with ws_connect(url, open_timeout=10, origin=app_url) as ws:  # the app's own page
        ws.send(frame_jpeg)
        assert json.loads(ws.recv(timeout=30))["faces"][0]["emotion"] == "happy"


def test_mirror_websocket_refuses_an_oversized_message_at_the_transport(app_url, ws_connect,
                                                                        frame_jpeg):
    from websockets.exceptions import ConnectionClosed

    from emostyle.app.mirror import MAX_FRAME_BYTES

    url = app_url.replace("http", "ws") + "/mirror/ws"
    with ws_connect(url, open_timeout=10, max_size=None) as ws:
        ws.send(frame_jpeg)
        json.loads(ws.recv(timeout=30))
        # The server's WebSocket protocol drops the connection (close code 1009, "message
        # too big") as soon as it reads the frame's length, often while the client is still
        # sending, instead of handing the message to the mirror, which would have answered
        # "larger than the 4 MB limit".
        with pytest.raises((ConnectionClosed, ConnectionError)):
            ws.send(b"\xff\xd8" + b"\0" * MAX_FRAME_BYTES)
            ws.recv(timeout=30)


def test_mirror_answers_malformed_frames_without_tracebacks(app_url, ws_connect, frame_jpeg):
    ok, narrow = cv2.imencode(".jpg", np.full((3, 10000, 3), 128, np.uint8))
    url = app_url.replace("http", "ws") + "/mirror/ws"
    with ws_connect(url, open_timeout=10) as ws:
        for bad, why in ((b"", "empty frame"), (narrow.tobytes(), "too narrow"),
                         (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a JPEG or PNG")):
            for _ in range(20):
                ws.send(bad)
                reply = json.loads(ws.recv(timeout=10))
                assert why in reply["error"] and set(reply) == {"error"}, reply
        ws.send(frame_jpeg)
        assert json.loads(ws.recv(timeout=30))["faces"]


def test_mirror_caps_its_connections(app_url, ws_connect, frame_jpeg):
    from emostyle.app.mirror import MAX_CONNECTIONS

    url = app_url.replace("http", "ws") + "/mirror/ws"
    with contextlib.ExitStack() as stack:
        open_ = [stack.enter_context(ws_connect(url, open_timeout=10))
                 for _ in range(MAX_CONNECTIONS)]
        for ws in open_:
            ws.send(frame_jpeg)
        for ws in open_:
            reply = json.loads(ws.recv(timeout=60))
            while "notice" in reply:  # over the measured capacity: told, still served
                reply = json.loads(ws.recv(timeout=60))
            assert reply["faces"]
        with ws_connect(url, open_timeout=10) as extra:
            reply = json.loads(extra.recv(timeout=10))
        assert reply["fatal"] is True and f"{MAX_CONNECTIONS} browsers" in reply["error"]
    time.sleep(0.5)
    with ws_connect(url, open_timeout=10) as ws:  # a place is free again
        ws.send(frame_jpeg)
        reply = json.loads(ws.recv(timeout=30))
        while "notice" in reply:
            reply = json.loads(ws.recv(timeout=30))
        assert reply["faces"]
