"""Face detection with YuNet (``cv2.FaceDetectorYN``) and aligned face crops.

YuNet is the fastest accurate CPU face detector OpenCV ships (about 75k parameters). It runs on a
downscaled copy of the picture, so a 12000x9000 photo costs what a 1280 px one does; boxes and
landmarks are mapped back to the original pixels.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emostyle.errors import ModelNotFoundError

YUNET_FILE = "face_detection_yunet_2026may.onnx"
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
YUNET_URL = ("https://media.githubusercontent.com/media/opencv/opencv_zoo/main/models/"
             "face_detection_yunet/" + YUNET_FILE)
ENV_VAR = "EMOSTYLE_FACE_MODEL"

# Landmark order YuNet returns: right eye, left eye (from the viewer: left, right), nose tip,
# right mouth corner, left mouth corner.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class DetectedFace:
    """A face found in a picture, in that picture's pixel coordinates."""

    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: tuple[tuple[float, float], ...]  # 5 points, order of LANDMARK_NAMES
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emostyle"


def sha256(path: Path) -> str:
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

    ``max_side`` bounds the longer side of the copy detection runs on: faces smaller than about
    10 px in that copy are missed, so raise it for group photos with tiny faces.
    """

    MIN_SIDE = 16  # below this a picture cannot hold a detectable face

    def __init__(self, model: str | Path | None = None, score_threshold: float = 0.7,
                 nms_threshold: float = 0.3, max_side: int = 960, top_k: int = 200) -> None:
        self.model_path = resolve_face_model(model)
        self.score_threshold = score_threshold
        self.max_side = max_side
        # OpenCV 5 warns on every detector about DNN targets it ignores; keep the CLI quiet.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                                  score_threshold, nms_threshold, top_k)
        except cv2.error as exc:
            raise ModelNotFoundError(f"{self.model_path}: not a usable YuNet model ({exc})"
                                     ) from None

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


def whole_image_face(image: np.ndarray, margin: float) -> DetectedFace:
    """Treat the whole picture as one face crop (for inputs that are already face crops).

    The box is shrunk by ``margin`` so that :func:`crop_face` with the same margin gives back
    exactly the whole picture (centre square for non-square pictures).
    """
    h, w = image.shape[:2]
    side = min(h, w) / (1 + margin)
    return DetectedFace(((w - side) / 2, (h - side) / 2, side, side), (), 1.0)


def crop_transform(face: DetectedFace, size: int, margin: float, align: bool = True
                   ) -> np.ndarray:
    """The 2x3 affine map from picture pixels to the ``size`` x ``size`` face crop.

    Its inverse (``cv2.invertAffineTransform``) takes anything computed on the crop, such as
    a heat map, back onto the picture.
    """
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h) * (1 + margin)
    angle = 0.0
    if align and len(face.landmarks) >= 2:
        (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
        angle = math.degrees(math.atan2(ly - ry, lx - rx))
    m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    return m


def crop_face(image: np.ndarray, face: DetectedFace, size: int, margin: float,
              align: bool = True, gray: bool = True) -> np.ndarray:
    """An upright square crop of ``face``, ``size`` x ``size``, uint8 (gray or RGB).

    The square is centred on the box with side ``max(w, h) * (1 + margin)``, rotated so the eyes
    are level when ``align`` and landmarks exist. Pixels outside the picture replicate its edge
    (as FER2013's own crops do near borders). Big faces are warped to 4x the target and then
    area-resized, so the small crop is not aliased.
    """
    x, y, w, h = face.box
    side = max(w, h) * (1 + margin)
    inter = size if side <= 4 * size else 4 * size
    m = crop_transform(face, inter, margin, align)
    crop = cv2.warpAffine(image, m, (inter, inter), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    if inter != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    if gray:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return crop
