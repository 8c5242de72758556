"""The live emoji mirror: camera frames in over a WebSocket, faces and smoothed emotions out.

The browser page (``static/mirror.html``) grabs camera frames with ``getUserMedia``, sends each
one as a JPEG over a WebSocket and draws the emoji, boxes and probability bars itself from the
JSON reply. Only one frame per browser is in flight at a time, so a slow machine lowers the
frame rate instead of building a backlog. Each connection has its own :class:`FaceTracker`, which
follows faces by box overlap and keeps a moving average of their probabilities.

These routes are served by the same process and port as the Streamlit pages (see
:mod:`emostyle.app.server`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from emostyle.app.engine import DEFAULT_DETECTION_SCORE, SharedAnalyzer, emotion_models, hex_color
from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.errors import EmostyleError, InputError
from emostyle.overlay import EMOJI_DIR, UNCERTAIN_RGB
from emostyle.tracking import FaceTracker
from emostyle.uncertainty import UNCERTAIN_LABEL

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "static" / "mirror.html"
MAX_FRAME_BYTES = 4 << 20  # a 640x480 JPEG is about 50 KB
MAX_FRAME_SIDE = 1280  # bigger frames are analysed at this size (the page sends 640 px)
DEFAULT_SMOOTHING = 0.35  # weight of the newest frame in each face's moving average


def decode_frame(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes from the browser -> RGB uint8, at most ``MAX_FRAME_SIDE`` long."""
    if len(data) > MAX_FRAME_BYTES:
        raise InputError(f"frame of {len(data) / 1e6:.1f} MB is larger than the "
                         f"{MAX_FRAME_BYTES >> 20} MB limit")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError("frame is not a JPEG or PNG picture")
    h, w = bgr.shape[:2]
    if max(h, w) > MAX_FRAME_SIDE:
        s = MAX_FRAME_SIDE / max(h, w)
        bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class MirrorSession:
    """One browser's stream of frames: analyse, follow faces, smooth their probabilities."""

    def __init__(self, analyzer: SharedAnalyzer, smoothing: float = DEFAULT_SMOOTHING,
                 min_score: float = DEFAULT_DETECTION_SCORE) -> None:
        self.analyzer = analyzer
        self.min_score = min_score
        self.tracker = FaceTracker(alpha=smoothing)
        self.frames = 0

    def process(self, data: bytes) -> dict:
        """One encoded frame -> the reply the page draws (faces in frame pixels)."""
        started = time.perf_counter()
        image = decode_frame(data)
        analysis = self.analyzer.analyze(image, self.min_score)
        tracks = self.tracker.update(analysis.faces, self.frames)
        self.frames += 1
        faces = []
        for track in tracks:
            face = FaceTracker.smoothed_face(track)
            faces.append({
                "id": track.track_id,
                "box": [round(v, 1) for v in face.box],
                "emotion": face.emotion,
                "emoji": face.emoji,
                "confidence": round(face.confidence, 4),
                "uncertain": face.uncertain,
                "uncertain_reason": face.uncertain_reason,
                "probabilities": [round(p, 4) for p in face.probabilities],
            })
        return {"width": image.shape[1], "height": image.shape[0], "faces": faces,
                "frame": self.frames, "ms": round((time.perf_counter() - started) * 1000, 1)}


class MirrorService:
    """Models shared by every mirror connection, loaded on first use."""

    def __init__(self, threads: int | None = 1) -> None:
        # One ONNX thread per analysis: on a small machine the Streamlit pages and other
        # browsers need the other core(s), and one thread already gives ~20 ms per frame.
        self.threads = threads
        self._analyzers: dict[str, SharedAnalyzer] = {}
        self._lock = threading.Lock()

    def analyzer(self, model: str) -> SharedAnalyzer:
        with self._lock:
            if model not in self._analyzers:
                self._analyzers[model] = SharedAnalyzer(model, threads=self.threads)
            return self._analyzers[model]

    def session(self, model: str = "default", smoothing: float = DEFAULT_SMOOTHING
                ) -> MirrorSession:
        """A new stream; ``model`` must be a bundled emotion model (the page is public)."""
        installed = emotion_models()
        if model not in installed:
            raise InputError(f"unknown model {model!r}; installed: {', '.join(installed)}")
        if not 0.01 <= smoothing <= 1.0:
            raise InputError(f"smoothing must be between 0.01 and 1, got {smoothing}")
        return MirrorSession(self.analyzer(model), smoothing)


def page_config() -> dict:
    """What the page needs to draw: label order, emoji and colours from :mod:`emotions`."""
    return {"emotions": list(EMOTIONS), "emoji": EMOJI,
            "colors": {e: hex_color(e) for e in EMOTIONS},
            "uncertain_label": UNCERTAIN_LABEL,
            "uncertain_color": "#{:02x}{:02x}{:02x}".format(*UNCERTAIN_RGB)}


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
        await websocket.accept()
        params = websocket.query_params
        try:
            smoothing = float(params.get("smoothing", DEFAULT_SMOOTHING))
            session = await run_in_threadpool(service.session, params.get("model", "default"),
                                              smoothing)
        except (EmostyleError, ValueError) as exc:
            await websocket.send_json({"error": str(exc), "fatal": True})
            await websocket.close()
            return
        try:
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
                except Exception as exc:  # keep serving the other frames; log the details
                    log.exception("mirror frame failed")
                    reply = {"error": f"could not analyse this frame ({type(exc).__name__})"}
                await websocket.send_json(reply)
        except WebSocketDisconnect:
            pass

    return [Route(prefix, page), Route(prefix + "/emoji/{emotion}.png", emoji),
            WebSocketRoute(prefix + "/ws", stream)]
