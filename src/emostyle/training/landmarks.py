"""Facial-landmark features for ``landmark_mlp``: a pluggable landmark source + normalisation.

A *source* turns one face crop into 468 face-mesh points (x, y, z in the crop's pixels) or
``None`` when it finds no face; :func:`landmark_features` turns points into the centred, scaled,
roll-corrected vectors (468 x 3 = 1404 values) that ``landmark_mlp`` standardises, projects with
PCA and classifies - the seed's recipe (MediaPipe face mesh -> scaler -> PCA -> MLP).

What we found about landmark sources in this environment (numpy 2.4, protobuf 7,
opencv-python-headless 5.0, Python 3.11):

- **MediaPipe 0.10.21** is the last release we found that ships the legacy
  ``mp.solutions.face_mesh`` *with its model inside the wheel* (``face_landmark.tflite``). Its
  wheel (cp311 manylinux_2_28_x86_64) requires ``numpy<2``, ``protobuf>=4.25.3,<5``,
  ``opencv-contrib-python``, ``jax`` and ``jaxlib``. Installing it next to emostyle would
  downgrade numpy below what our stack is built for, and ``opencv-contrib-python`` writes the
  same ``cv2`` package as ``opencv-python-headless``. In a separate virtual environment it works
  on FER2013 faces: with the 48 px face padded by 25% (edge replicated) and upscaled to 256 px,
  it found a mesh on 189 of the first 200 training faces (94.5%; 91% without padding) at
  4-12 ms per face on one CPU core (the CPU was shared with a training job).
- **Later MediaPipe releases** we checked (0.10.35, 1.2.3) drop the numpy and protobuf pins but
  no longer ship ``mp.solutions`` nor any model: their Tasks ``FaceLandmarker`` needs a
  ``face_landmarker.task`` file downloaded from Google, and they still depend on
  ``opencv-contrib-python``. :class:`MediaPipeFaceMesh` accepts that file as ``model_path``.
- **OpenCV's Facemark** (LBF/AAM/Kazemi, 68 points) is in ``cv2.face``, which exists only in
  opencv-contrib builds; our ``opencv-python-headless`` 5.0 has no ``cv2.face``, and Facemark
  also needs a separately downloaded model (``lbfmodel.yaml``).
- **YuNet** (already used for detection) gives only 5 points - too few to carry an expression.

So no landmark source runs in the main environment, and we do not fake one: the fallback is a
:class:`LandmarkSourceError` that names the conflict and the fix, which is to extract landmarks
once in a side environment and train from the saved file::

    python -m venv .venv-landmarks
    .venv-landmarks/bin/pip install "mediapipe==0.10.21" onnxruntime pillow typer rich
    PYTHONPATH=src .venv-landmarks/bin/python -m emostyle.training.landmarks \\
        ../shared/data/fer2013.npz landmarks.npz

:func:`load_landmarks` then reads the file in the main environment (numpy only). Faces with no
mesh have ``found == False``: training leaves them out, and at test time ``landmark_mlp`` answers
them with the training prior, so accuracy is over every test face, comparable with image models
(``emostyle train --arch landmark_mlp --landmarks FILE``; report the coverage too).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from emostyle.errors import DatasetError, EmostyleError

NUM_POINTS = 468  # face-mesh points without the 10 iris points the Tasks model adds
# Outer eye corners in the face-mesh topology (subject's right, subject's left).
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
SPLITS = ("train", "public", "private")

CONFLICT = (
    "MediaPipe face mesh is not usable in this environment ({reason}). mediapipe 0.10.21, the "
    "last release with mp.solutions.face_mesh and a bundled model, pins numpy<2 and protobuf<5 "
    "and pulls opencv-contrib-python, which conflicts with emostyle's numpy 2 / "
    "opencv-python-headless stack. Extract landmarks in a separate environment: "
    "'pip install mediapipe==0.10.21 onnxruntime pillow typer rich' there, then "
    "'PYTHONPATH=src python -m emostyle.training.landmarks DATA OUT.npz', and train from OUT.npz"
)


class LandmarkSourceError(EmostyleError):
    """No landmark source can run here; the message says why and what to do instead."""

    exit_code = 3


class LandmarkSource(Protocol):
    """Turns a face crop (H, W) gray or (H, W, 3) RGB uint8 into (468, 3) points or ``None``."""

    name: str

    def __call__(self, face: np.ndarray) -> np.ndarray | None: ...


def _import_mediapipe():  # noqa: ANN202 - returns the module
    try:
        import mediapipe as mp
    except Exception as exc:  # ImportError, or a numpy-ABI error raised while importing
        missing = isinstance(exc, ModuleNotFoundError)
        reason = "mediapipe is not installed" if missing else f"importing it failed: {exc}"
        raise LandmarkSourceError(CONFLICT.format(reason=reason)) from exc
    return mp


class MediaPipeFaceMesh:
    """MediaPipe face mesh on one face crop: 468 points in the crop's pixel coordinates.

    Without ``model_path`` it uses the legacy ``mp.solutions.face_mesh`` (mediapipe <= 0.10.21,
    model bundled); with ``model_path`` (a ``face_landmarker.task`` file) the Tasks
    ``FaceLandmarker`` of newer releases. Small crops are padded by ``pad`` (a fraction of the
    side, edges replicated, so the detector sees some context) and upscaled to ``upscale`` px.
    """

    name = "mediapipe"

    def __init__(self, model_path: str | Path | None = None, pad: float = 0.25,
                 upscale: int = 256, min_confidence: float = 0.5):
        mp = _import_mediapipe()
        import cv2

        self._cv2 = cv2
        self.pad, self.upscale = pad, upscale
        if model_path is None:
            if not hasattr(mp, "solutions"):
                raise LandmarkSourceError(
                    f"mediapipe {getattr(mp, '__version__', '?')} has no mp.solutions.face_mesh; "
                    "pass model_path to a face_landmarker.task file, or use mediapipe 0.10.21")
            mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=min_confidence)
            self._close: Callable[[], None] = mesh.close

            def detect(rgb: np.ndarray) -> list | None:
                res = mesh.process(rgb)
                return res.multi_face_landmarks[0].landmark if res.multi_face_landmarks else None
        else:
            if not Path(model_path).is_file():
                raise LandmarkSourceError(f"{model_path}: no such face landmarker model file")
            from mediapipe.tasks.python import BaseOptions, vision

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(model_path)),
                running_mode=vision.RunningMode.IMAGE, num_faces=1,
                min_face_detection_confidence=min_confidence)
            landmarker = vision.FaceLandmarker.create_from_options(options)
            self._close = landmarker.close

            def detect(rgb: np.ndarray) -> list | None:
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
                res = landmarker.detect(image)
                return res.face_landmarks[0] if res.face_landmarks else None

        self._detect = detect

    def __call__(self, face: np.ndarray) -> np.ndarray | None:
        cv2 = self._cv2
        h, w = face.shape[:2]
        p = round(self.pad * max(h, w))
        padded = cv2.copyMakeBorder(np.ascontiguousarray(face), p, p, p, p, cv2.BORDER_REPLICATE)
        big = cv2.resize(padded, (self.upscale, self.upscale), interpolation=cv2.INTER_CUBIC)
        rgb = cv2.cvtColor(big, cv2.COLOR_GRAY2RGB) if big.ndim == 2 else big
        marks = self._detect(np.ascontiguousarray(rgb))
        if marks is None:
            return None
        pts = np.array([(m.x, m.y, m.z) for m in marks[:NUM_POINTS]], dtype=np.float32)
        # Normalised to the padded image (z on the x scale) -> pixels of the original crop.
        pw, ph = w + 2 * p, h + 2 * p
        return np.stack([pts[:, 0] * pw - p, pts[:, 1] * ph - p, pts[:, 2] * pw], 1)

    def close(self) -> None:
        self._close()


SOURCES: dict[str, Callable[..., LandmarkSource]] = {"mediapipe": MediaPipeFaceMesh}


def make_source(name: str = "mediapipe", **kwargs: object) -> LandmarkSource:
    """Build a landmark source by name; raises :class:`LandmarkSourceError` if it cannot run."""
    if name not in SOURCES:
        raise LandmarkSourceError(f"unknown landmark source {name!r}; available: "
                                  f"{', '.join(SOURCES)}")
    return SOURCES[name](**kwargs)


@dataclass(frozen=True)
class Landmarks:
    """Points for N faces: ``points`` (N, 468, 3) float32 (NaN where none), ``found`` (N,)."""

    points: np.ndarray
    found: np.ndarray

    def __len__(self) -> int:
        return len(self.found)

    def features(self) -> np.ndarray:
        """:func:`landmark_features` of every face (rows of faces not found are NaN)."""
        return landmark_features(self.points)


def extract_landmarks(images: Iterable[np.ndarray], source: LandmarkSource,
                      progress: Callable[[int], None] | None = None) -> Landmarks:
    """Run ``source`` on each face; ``progress(i)`` is called after each one if given."""
    points, found = [], []
    for i, face in enumerate(images):
        pts = source(face)
        found.append(pts is not None)
        points.append(np.full((NUM_POINTS, 3), np.nan, np.float32) if pts is None else pts)
        if progress is not None:
            progress(i + 1)
    if not points:
        return Landmarks(np.zeros((0, NUM_POINTS, 3), np.float32), np.zeros(0, bool))
    return Landmarks(np.stack(points).astype(np.float32), np.array(found))


def landmark_features(points: np.ndarray, align: bool = True) -> np.ndarray:
    """(N, 468, 3) points -> (N, 1404) features invariant to position, size and head roll.

    Points are centred on their centroid, rotated in the image plane so the outer eye corners
    are level (``align``; roll says nothing about the expression), and divided by their RMS
    distance from the centroid in the image plane (z gets the same scale).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (NUM_POINTS, 3):
        raise ValueError(f"points must be (N, {NUM_POINTS}, 3), got {pts.shape}")
    pts = pts - pts.mean(1, keepdims=True)
    if align:
        eye = pts[:, LEFT_EYE_OUTER, :2] - pts[:, RIGHT_EYE_OUTER, :2]
        angle = np.arctan2(eye[:, 1], eye[:, 0])
        cos, sin = np.cos(-angle)[:, None], np.sin(-angle)[:, None]
        x, y = pts[..., 0].copy(), pts[..., 1].copy()
        pts[..., 0], pts[..., 1] = cos * x - sin * y, sin * x + cos * y
    scale = np.sqrt((pts[..., :2] ** 2).sum(2).mean(1))
    pts = pts / np.where(scale > 0, scale, 1.0)[:, None, None]
    return pts.reshape(len(pts), -1).astype(np.float32)


def save_landmarks(path: str | Path, landmarks: dict[str, Landmarks], source: str) -> Path:
    """Write per-split landmarks to an npz atomically (temp file + rename)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"source": np.array(source)}
    for split, lm in landmarks.items():
        arrays[f"{split}_points"] = lm.points
        arrays[f"{split}_found"] = lm.found
    # A hidden temp file beside the target (so the rename is atomic), named .npz so numpy
    # does not append a suffix; not mkstemp, whose files are private (0600).
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp.npz"
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_landmarks(path: str | Path) -> dict[str, Landmarks]:
    """Read a file written by :func:`save_landmarks`: split name -> :class:`Landmarks`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such landmark file")
    try:
        with np.load(path) as data:
            out = {split: Landmarks(data[f"{split}_points"], data[f"{split}_found"])
                   for split in SPLITS if f"{split}_points" in data.files}
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{path}: not a landmark file ({exc})") from exc
    if not out:
        raise DatasetError(f"{path}: no landmark splits (expected train_points, ...)")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m emostyle.training.landmarks DATA OUT.npz [LABELS]``: extract every split."""
    from emostyle.training.datasets import load_dataset

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m emostyle.training.landmarks DATA OUT.npz [LABELS]",
              file=sys.stderr)
        return 2
    try:
        splits = load_dataset(args[0], args[2] if len(args) == 3 else "fer2013")
        source = make_source("mediapipe")
        out = {}
        for split in SPLITS:
            faces = splits.get(split).images
            out[split] = extract_landmarks(faces, source)
            print(f"{split}: landmarks for {out[split].found.sum()} of {len(faces)} faces",
                  file=sys.stderr)
        save_landmarks(args[1], out, source.name)
    except EmostyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
