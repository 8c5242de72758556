"""Face detection with YuNet on ONNX Runtime: finding the model file, and the detector.

YuNet is the fastest accurate CPU face detector OpenCV ships (about 75k parameters). It runs on a
downscaled copy of the picture, so a 12000x9000 photo costs what a 1280 px one does; boxes and
landmarks are mapped back to the original pixels. The network runs on ONNX Runtime, like every
model of ours, and its outputs are decoded here as ``cv2.FaceDetectorYN`` decodes them (why:
:class:`FaceDetector`). Crop geometry lives in :mod:`emostyle.crops` and the detector interface in
:mod:`emostyle.detection` (their names are importable from here too, as they were before).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from emostyle.crops import crop_face, crop_transform, whole_image_face
from emostyle.detection import DEFAULT_MIN_SCORE, MIN_SIDE
from emostyle.errors import ModelNotFoundError
from emostyle.model_files import cache_dir, open_session
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


# YuNet's three heads see the picture at strides 8, 16 and 32; the network wants sides that are
# multiples of 32 (the picture is padded with black at the right and bottom, as OpenCV does).
STRIDES = (8, 16, 32)
PAD = 32
YUNET_OUTPUTS = tuple(f"{head}_{s}" for s in STRIDES for head in ("cls", "obj", "bbox", "kps"))


class FaceDetector:
    """YuNet face detector; build once, call :meth:`detect` on many pictures.

    ``min_score`` drops faces detected with a lower score. ``max_side`` bounds the longer side
    of the copy detection runs on: faces smaller than about 10 px in that copy are missed, so
    raise it for group photos with tiny faces. ``threads``: ONNX Runtime threads (None: one
    per core). (``score_threshold`` is the former name of ``min_score`` and still accepted.)

    Why ONNX Runtime and not ``cv2.FaceDetectorYN``: detection took 5.6 instead of 13.4 ms
    at 640x480 and 10.3 instead of 23.3 ms at 1920x1080 (2 threads, idle 2-core AMD EPYC;
    ``detect_ms_median`` of ``benchmarks/results/vs_fer_default.json`` and
    ``vs_fer_default_before.json``), and detection is most of a photo's analysis time. The
    decoding below is OpenCV's; ``tests/test_faces.py`` checks that both give the same faces.
    """

    MIN_SIDE = MIN_SIDE

    def __init__(self, model: str | Path | None = None, min_score: float = DEFAULT_MIN_SCORE,
                 nms_threshold: float = 0.3, max_side: int = 960, top_k: int = 200, *,
                 threads: int | None = None, score_threshold: float | None = None) -> None:
        if score_threshold is not None:
            min_score = score_threshold
        self.model_path = resolve_face_model(model)
        self.min_score = float(min_score)
        self.nms_threshold = float(nms_threshold)
        self.max_side = max_side
        self.top_k = top_k
        # Detection alternates with other native work (cropping, the emotion model), so its
        # idle workers sleep at once ("command"); picture sizes change from call to call, so
        # no memory pattern is planned per size.
        self._session = open_session(self.model_path, threads, memory_pattern=False,
                                     use="command")
        inputs = self._session.get_inputs()
        outputs = {o.name for o in self._session.get_outputs()}
        if len(inputs) != 1 or not outputs.issuperset(YUNET_OUTPUTS):
            raise ModelNotFoundError(f"{self.model_path}: not a usable YuNet model (expected "
                                     f"one input and the outputs {', '.join(YUNET_OUTPUTS)})")
        self._input = inputs[0].name

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
        sh, sw = small.shape[:2]
        rows = self._raw_faces(small)
        sx, sy = w / sw, h / sh
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

    def _raw_faces(self, rgb: np.ndarray) -> np.ndarray:
        """YuNet's rows for a picture at network scale: x, y, w, h, 5 landmarks, score.

        The layout ``cv2.FaceDetectorYN.detect`` returns, decoded the way it decodes: black
        padding to multiples of 32, BGR values 0-255, score = sqrt(cls * obj), boxes and
        landmarks as offsets from their cell in stride units, non-maximum suppression.
        """
        h, w = rgb.shape[:2]
        ph, pw = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = rgb[:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR planes
        out = dict(zip(YUNET_OUTPUTS, self._session.run(list(YUNET_OUTPUTS),
                                                        {self._input: blob}), strict=True))
        rows = []
        for s in STRIDES:
            cols = pw // s
            score = np.sqrt(np.clip(out[f"cls_{s}"][0, :, 0], 0, 1)
                            * np.clip(out[f"obj_{s}"][0, :, 0], 0, 1))
            keep = np.flatnonzero(score >= self.min_score)
            if keep.size == 0:
                continue
            cy, cx = np.divmod(keep, cols)
            box = out[f"bbox_{s}"][0, keep]
            bw, bh = np.exp(box[:, 2]) * s, np.exp(box[:, 3]) * s
            x0, y0 = (cx + box[:, 0]) * s - bw / 2, (cy + box[:, 1]) * s - bh / 2
            kps = out[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
            kps = (kps + np.stack([cx, cy], axis=1)[:, None, :]) * s
            rows.append(np.column_stack([x0, y0, bw, bh, kps.reshape(-1, 10), score[keep]]))
        if not rows:
            return np.zeros((0, 15), np.float32)
        rows_all = np.concatenate(rows).astype(np.float32)
        # OpenCV suppresses on integer boxes; so do we, to keep the same faces.
        boxes = [tuple(int(v) for v in r[:4]) for r in rows_all]
        kept = cv2.dnn.NMSBoxes(boxes, rows_all[:, 14].tolist(), self.min_score,
                                self.nms_threshold, 1.0, self.top_k)
        return rows_all[np.asarray(kept, int).reshape(-1)]
