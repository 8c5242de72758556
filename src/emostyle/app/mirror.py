"""The live emoji mirror: camera frames in over a WebSocket, faces and smoothed emotions out.

The browser page (``static/mirror.html``) grabs camera frames with ``getUserMedia``, sends each
one as a JPEG over a WebSocket and draws the boxes, labels and probability bars itself from the
JSON reply. Where each label goes is not the page's choice: the reply carries every face's label
rectangle, planned by :func:`emostyle.overlay.plan_labels` as for still pictures and video, so
labels in a crowd avoid each other and the frame's edge, and tiny faces get the compact mark.
Each connection plans with its own :class:`emostyle.overlay.LabelPlanner`, keyed by track id, so
a face's label keeps its place from frame to frame instead of jumping as the box jitters.
Only one frame per browser is in flight at a time, so a slow machine lowers the frame rate
instead of building a backlog. Each connection has its own :class:`FaceTracker`, which follows
faces by box overlap and keeps a moving average of their probabilities.

These routes are served by the same process and port as the Streamlit pages (see
:mod:`emostyle.app.server`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from emostyle.app.engine import DEFAULT_DETECTION_SCORE, SharedAnalyzer, emotion_models, hex_color
from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.errors import EmostyleError, InputError
from emostyle.overlay import EMOJI_DIR, UNCERTAIN_RGB, LabelPlanner, ink_rgb, plan_labels, rgb
from emostyle.results import Face
from emostyle.tracking import FaceTracker
from emostyle.uncertainty import UNCERTAIN_LABEL

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "static" / "mirror.html"
# A 640x480 JPEG is about 50 KB. The same number is the server's WebSocket message limit
# (see emostyle.app.server), so a bigger message is refused before it is read into memory.
MAX_FRAME_BYTES = 4_000_000
# Frame sizes are read from the JPEG/PNG header and checked before any pixel is decoded: a
# 1 MB PNG can hold 30000x30000 pixels (2.7 GB decoded). The page sends 640x480 (0.3 MP).
MAX_FRAME_PIXELS = 2048 * 2048
MAX_FRAME_SIDE = 1280  # bigger frames are analysed at this size (the page sends 640 px)
MIN_FRAME_SIDE = 32  # after scaling to MAX_FRAME_SIDE; narrower strips hold no readable face
MAX_CONNECTIONS = 8  # mirrors served at once; about 40 analysed frames/s are shared by all
LOG_INTERVAL_S = 60.0  # at most one log line per client per minute about its bad frames
DEFAULT_SMOOTHING = 0.35  # weight of the newest frame in each face's moving average

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (they carry the size); C4, C8 and CC are other segments.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                 (2, cv2.IMREAD_REDUCED_COLOR_2))


def frame_size(data: bytes) -> tuple[str, int, int]:
    """``("jpeg" | "png", width, height)`` read from the header alone; no pixel is decoded.

    Raises :class:`InputError` for an empty message or bytes that are not a JPEG or PNG.
    """
    if not data:
        raise InputError("empty frame (0 bytes)")
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 <= len(data):  # walk the segments up to the start of frame
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0xDA:  # start of scan before any size: not a valid JPEG
                break
            if marker in _JPEG_SOF:
                return "jpeg", int.from_bytes(data[i + 7:i + 9], "big"), \
                    int.from_bytes(data[i + 5:i + 7], "big")
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    raise InputError("frame is not a JPEG or PNG picture")


def decode_frame(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes from the browser -> RGB uint8, at most ``MAX_FRAME_SIDE`` long.

    The size is checked from the header first; JPEGs over 1280 px are decoded at 1/2, 1/4 or
    1/8 scale by the JPEG decoder itself (keeping at least 640 px), so no full-size copy is made.
    """
    if len(data) > MAX_FRAME_BYTES:
        raise InputError(f"frame of {len(data) / 1e6:.1f} MB is larger than the "
                         f"{MAX_FRAME_BYTES / 1e6:.0f} MB limit")
    kind, w, h = frame_size(data)
    if w * h > MAX_FRAME_PIXELS:
        raise InputError(f"frame of {w}x{h} px is larger than the "
                         f"{MAX_FRAME_PIXELS / 1e6:.1f} MP limit; send at most 2048x2048")
    scale = min(1.0, MAX_FRAME_SIDE / max(w, h, 1))
    if min(w, h) * scale < MIN_FRAME_SIDE:
        raise InputError(f"frame of {w}x{h} px is too small or too narrow to analyse")
    flag = cv2.IMREAD_COLOR
    if kind == "jpeg":
        # The largest reduction that keeps the long side at 640 px (what the page sends).
        flag = next((f for n, f in _JPEG_REDUCED if max(w, h) / n >= MAX_FRAME_SIDE / 2),
                    flag)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if bgr is None or min(bgr.shape[:2]) < 1:
        raise InputError("frame is a corrupt JPEG or PNG picture")
    h, w = bgr.shape[:2]
    if max(h, w) > MAX_FRAME_SIDE:
        s = MAX_FRAME_SIDE / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class LogLimiter:
    """Says whether a client's next failure may be logged: once per ``interval`` seconds.

    One misbehaving client could otherwise write a log line for every frame it sends.
    """

    def __init__(self, interval: float = LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._next = -float("inf")
        self.suppressed = 0

    def allow(self) -> bool:
        now = self.clock()
        if now < self._next:
            self.suppressed += 1
            return False
        self._next = now + self.interval
        return True


def same_origin(headers: Mapping[str, str]) -> bool:
    """True when a WebSocket comes from a page of this server (or from no page at all).

    Browsers send ``Origin`` on every WebSocket; without this check any web site open in the
    user's browser could stream frames to the mirror. Clients that are not browsers send no
    ``Origin`` and are let in (they could send any header anyway).
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def face_replies(faces: Sequence[Face], ids: Sequence[int], width: int, height: int,
                 planner: LabelPlanner | None = None) -> list[dict]:
    """Each face as the page draws it, in frame pixels, with its label laid out for the whole
    ``width`` x ``height`` frame by :func:`emostyle.overlay.plan_labels` (through ``planner``,
    keyed by the track ``ids``, so that labels keep their places across a stream's frames).

    ``label`` is the label's rectangle (``x``, ``y``, ``w``, ``h``), whether it is the
    ``compact`` mark (the emoji alone), and for a full label its ``text`` and type size
    (``text_px``); the page draws it there, mirrored with the box, and fits its own font to it.
    """
    planned = (plan_labels(faces, width, height) if planner is None
               else planner.plan(faces, ids, width, height))
    labels = {id(lb.face): lb for lb in planned}
    out = []
    for face, track_id in zip(faces, ids, strict=True):
        lb = labels[id(face)]
        out.append({
            "id": track_id,
            "box": [round(v, 1) for v in face.box],
            "emotion": face.emotion,
            "emoji": face.emoji,
            "confidence": round(face.confidence, 4),
            "uncertain": face.uncertain,
            "uncertain_reason": face.uncertain_reason,
            "probabilities": [round(p, 4) for p in face.probabilities],
            "label": {"x": lb.x, "y": lb.y, "w": lb.width, "h": lb.height,
                      "compact": lb.compact, "text": lb.text, "text_px": lb.text_px},
        })
    return out


class MirrorSession:
    """One browser's stream of frames: analyse, follow faces, smooth their probabilities."""

    def __init__(self, analyzer: SharedAnalyzer, smoothing: float = DEFAULT_SMOOTHING,
                 min_score: float = DEFAULT_DETECTION_SCORE,
                 on_work: Callable[[float], None] | None = None) -> None:
        self.analyzer = analyzer
        self.min_score = min_score
        self.tracker = FaceTracker(alpha=smoothing)
        self.labels = LabelPlanner(max_age=self.tracker.max_age)
        self.frames = 0
        self.on_work = on_work

    def process(self, data: bytes) -> dict:
        """One encoded frame -> the reply the page draws (faces in frame pixels).

        ``ms`` in the reply is this frame's own work (decode, analysis, tracking); ``wait_ms``
        is the time it queued behind other browsers' frames for the shared analyser.
        """
        started = time.perf_counter()
        image = decode_frame(data)
        analysis, waited, worked = self.analyzer.analyze_timed(image, self.min_score)
        tracks = self.tracker.update(analysis.faces, self.frames)
        self.frames += 1
        faces = face_replies([FaceTracker.smoothed_face(t) for t in tracks],
                             [t.track_id for t in tracks], image.shape[1], image.shape[0],
                             self.labels)
        if self.on_work is not None:
            self.on_work(worked)
        own = time.perf_counter() - started - waited
        return {"width": image.shape[1], "height": image.shape[0], "faces": faces,
                "frame": self.frames, "ms": round(own * 1000, 1),
                "wait_ms": round(waited * 1000, 1)}


class MirrorService:
    """Models shared by every mirror connection, loaded on first use, and their capacity."""

    def __init__(self, threads: int | None = 1, max_connections: int = MAX_CONNECTIONS) -> None:
        # One ONNX thread per analysis (face detection and emotions alike): on a small
        # machine the Streamlit pages and other browsers need the other core(s).
        self.threads = threads
        self.max_connections = max_connections
        self.connections = 0  # changed only on the event loop's thread
        self._analyzers: dict[str, SharedAnalyzer] = {}
        self._lock = threading.Lock()
        self._work_s: float | None = None  # moving average of one frame's analysis time

    def analyzer(self, model: str) -> SharedAnalyzer:
        with self._lock:
            if model not in self._analyzers:
                self._analyzers[model] = SharedAnalyzer(model, threads=self.threads)
            return self._analyzers[model]

    def record_work(self, seconds: float) -> None:
        """Fold one frame's analysis time into the capacity estimate."""
        w = self._work_s
        self._work_s = seconds if w is None else 0.9 * w + 0.1 * seconds

    def capacity_fps(self) -> float | None:
        """Analysed frames per second the shared analyser can give all browsers together."""
        return None if not self._work_s else 1.0 / self._work_s

    def busy_notice(self, clients: int, target_fps: float = 10.0) -> str | None:
        """What to tell a browser joining as the ``clients``-th when they cannot all get
        ``target_fps`` (None when they can, or before any frame has been measured)."""
        capacity = self.capacity_fps()
        if capacity is None or capacity / clients >= target_fps:
            return None
        return (f"The app is busy: {clients} mirrors share about {capacity:.0f} analysed "
                f"frames per second, so each gets about {capacity / clients:.0f}. The picture "
                "will update less often until others leave.")

    def session(self, model: str = "default", smoothing: float = DEFAULT_SMOOTHING
                ) -> MirrorSession:
        """A new stream; ``model`` must be a bundled emotion model (the page is public)."""
        installed = emotion_models()
        if model not in installed:
            raise InputError(f"unknown model {model!r}; installed: {', '.join(installed)}")
        if not 0.01 <= smoothing <= 1.0:
            raise InputError(f"smoothing must be between 0.01 and 1, got {smoothing}")
        return MirrorSession(self.analyzer(model), smoothing, on_work=self.record_work)


def page_config() -> dict:
    """What the page needs to draw: label order, emoji, colours from :mod:`emotions` and the
    text colour on each (the same as on annotated pictures)."""
    def hex_rgb(color: tuple[int, int, int]) -> str:
        return "#{:02x}{:02x}{:02x}".format(*color)

    return {"emotions": list(EMOTIONS), "emoji": EMOJI,
            "colors": {e: hex_color(e) for e in EMOTIONS},
            "ink": {e: hex_rgb(ink_rgb(rgb(e))) for e in EMOTIONS},
            "uncertain_label": UNCERTAIN_LABEL,
            "uncertain_color": hex_rgb(UNCERTAIN_RGB),
            "uncertain_ink": hex_rgb(ink_rgb(UNCERTAIN_RGB))}


def render_page() -> str:
    return PAGE.read_text(encoding="utf-8").replace(
        "/*CONFIG*/{}", json.dumps(page_config(), ensure_ascii=False))


def mirror_routes(prefix: str = "/mirror", service: MirrorService | None = None) -> list:
    """Starlette routes: ``prefix`` (the page), ``prefix/ws`` (frames), ``prefix/emoji/*``."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    service = service or MirrorService()

    async def page(request: Request) -> Response:
        return HTMLResponse(render_page(), headers={"Cache-Control": "no-cache"})

    async def emoji(request: Request) -> Response:
        name = request.path_params["emotion"]
        if name not in (*EMOTIONS, "uncertain"):
            return PlainTextResponse("unknown emotion", status_code=404)
        return FileResponse(EMOJI_DIR / f"{name}.png", media_type="image/png",
                            headers={"Cache-Control": "max-age=86400"})

    async def stream(websocket: WebSocket) -> None:
        if not same_origin(websocket.headers):
            # Closing before accepting answers the handshake with HTTP 403.
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if service.connections >= service.max_connections:
            await websocket.send_json({"error": f"the mirror is already serving "
                                       f"{service.max_connections} browsers, its limit; try "
                                       "again later", "fatal": True})
            await websocket.close(code=1013)  # try again later
            return
        service.connections += 1
        try:
            await serve_stream(websocket)
        except WebSocketDisconnect:
            pass
        finally:
            service.connections -= 1

    async def serve_stream(websocket: WebSocket) -> None:
        params = websocket.query_params
        try:
            smoothing = float(params.get("smoothing", DEFAULT_SMOOTHING))
            session = await run_in_threadpool(service.session, params.get("model", "default"),
                                              smoothing)
        except (EmostyleError, ValueError) as exc:
            await websocket.send_json({"error": str(exc), "fatal": True})
            await websocket.close()
            return
        notice = service.busy_notice(service.connections)
        if notice:
            await websocket.send_json({"notice": notice})
        client = websocket.client
        who = f"{client.host}:{client.port}" if client else "a client"
        limiter = LogLimiter()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:
                await websocket.send_json({"error": "expected a JPEG frame"})
                continue
            try:
                reply = await run_in_threadpool(session.process, data)
            except EmostyleError as exc:
                reply = {"error": str(exc)}
            except Exception as exc:  # keep serving; one line, not a traceback per frame
                reply = {"error": f"could not analyse this frame ({type(exc).__name__})"}
                if limiter.allow():
                    log.warning("mirror %s: a frame failed (%s: %s); further failures of this "
                                "client are not logged for %.0f s", who, type(exc).__name__,
                                exc, limiter.interval)
                log.debug("mirror frame failed", exc_info=True)
            await websocket.send_json(reply)

    return [Route(prefix, page), Route(prefix + "/emoji/{emotion}.png", emoji),
            WebSocketRoute(prefix + "/ws", stream)]
