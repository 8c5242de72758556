"""Face detection with YuNet (``cv2.FaceDetectorYN``): finding the model file, and the detector.

YuNet is the fastest accurate CPU face detector OpenCV ships (about 75k parameters). It runs on a
downscaled copy of the picture, so a 12000x9000 photo costs what a 1280 px one does; boxes and
landmarks are mapped back to the original pixels. Crop geometry lives in :mod:`emostyle.crops`
and the detector interface in :mod:`emostyle.detection` (their names are importable from here
too, as they were before).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from emostyle.crops import crop_face, crop_transform, whole_image_face
from emostyle.detection import DEFAULT_MIN_SCORE, MIN_SIDE
from emostyle.errors import ModelNotFoundError
from emostyle.model_files import cache_dir
from emostyle.results import DetectedFace

__all__ = ["ENV_VAR", "LANDMARK_NAMES", "YUNET_FILE", "DetectedFace", "FaceDetector",
           "cache_dir", "crop_face", "crop_transform", "resolve_face_model", "whole_image_face"]

YUNET_FILE = "face_detection_yunet_2026may.onnx"
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
YUNET_URL = ("https://media.githubusercontent.com/media/opencv/opencv_zoo/main/models/"
             "face_detection_yunet/" + YUNET_FILE)
ENV_VAR = "EMOSTYLE_FACE_MODEL"

# Landmark order YuNet returns: right eye, left eye (from the viewer: left, right), nose tip,
# right mouth corner, left mouth corner.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


def sha256(path: Path) -> str:
    import hashlib  # here: only a download is checked, and OpenSSL takes a while to load

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_face_model(path: str | Path | None = None, download: bool = True) -> Path:
    """Find the YuNet model: ``path`` -> ``$EMOSTYLE_FACE_MODEL`` -> user cache -> download.

    The download comes from the OpenCV Zoo and is checked against the pinned sha256 before it
    is cached. With none of these available, raise one error that names every option.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ModelNotFoundError(f"{p}: face model file not found")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ModelNotFoundError(f"{ENV_VAR}={env}: face model file not found")
        return p
    cached = cache_dir() / YUNET_FILE
    if cached.is_file():
        return cached
    if download:
        try:
            return _download(cached)
        except (OSError, ValueError) as exc:
            reason = str(exc)
    else:
        reason = "download disabled"
    raise ModelNotFoundError(
        f"YuNet face model not found ({reason}). Give --face-model PATH, set {ENV_VAR}=PATH, "
        f"or put {YUNET_FILE} (sha256 {YUNET_SHA256[:12]}...) in {cache_dir()}; "
        f"it is published at {YUNET_URL}")


def _download(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    try:
        import urllib.request  # here, not at the top: 30 ms of imports for a rare download

        with urllib.request.urlopen(YUNET_URL, timeout=30) as resp, open(tmp, "wb") as fh:
            fh.write(resp.read())
        got = sha256(tmp)
        if got != YUNET_SHA256:
            raise ValueError(f"downloaded file has sha256 {got[:12]}..., expected "
                             f"{YUNET_SHA256[:12]}...")
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


class FaceDetector:
    """YuNet face detector; build once, call :meth:`detect` on many pictures.

    ``min_score`` drops faces detected with a lower score. ``max_side`` bounds the longer side
    of the copy detection runs on: faces smaller than about 10 px in that copy are missed, so
    raise it for group photos with tiny faces. (``score_threshold`` is the former name of
    ``min_score`` and still accepted.)
    """

    MIN_SIDE = MIN_SIDE

    def __init__(self, model: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE,
                 nms_threshold: float = 0.3, max_side: int = 960, top_k: int = 200, *,
                 score_threshold: float | None = None) -> None:
        if score_threshold is not None:
            min_score = score_threshold
        self.model_path = resolve_face_model(model)
        self.min_score = float(min_score)
        self.max_side = max_side
        # OpenCV 5 warns on every detector about DNN targets it ignores; keep the CLI quiet.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                                  self.min_score, nms_threshold, top_k)
        except cv2.error as exc:
            raise ModelNotFoundError(f"{self.model_path}: not a usable YuNet model ({exc})"
                                     ) from None

    @property
    def score_threshold(self) -> float:
        """The former name of :attr:`min_score`."""
        return self.min_score

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in an RGB uint8 picture, highest score first."""
        h, w = image.shape[:2]
        if min(h, w) < self.MIN_SIDE:
            return []
        scale = min(1.0, self.max_side / max(h, w))
        small = image
        if scale < 1.0:
            small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = self._net.detect(bgr)
        if rows is None:
            return []
        sx, sy = w / bgr.shape[1], h / bgr.shape[0]
        faces = []
        for r in rows:
            x, y, bw, bh = float(r[0]) * sx, float(r[1]) * sy, float(r[2]) * sx, float(r[3]) * sy
            # Clip to the picture; YuNet boxes may overhang the border slightly.
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            pts = tuple((float(r[4 + 2 * i]) * sx, float(r[5 + 2 * i]) * sy) for i in range(5))
            faces.append(DetectedFace((x0, y0, x1 - x0, y1 - y0), pts, float(r[14])))
        return sorted(faces, key=lambda f: -f.score)
