"""Where the classifier looked: class activation maps (CAM) without autograd or torch.

Our shipped classifiers end in global average pooling and one linear layer, so the logit of
class c is the spatial mean of ``cam_c = sum_k w_ck F_k + b_c`` over the last feature map F.
The exported ONNX graph computes these maps as a third output, which makes the map exact (for
such heads Grad-CAM reduces to the same map, up to scale) and nearly free: the same forward
pass, no gradients, no second framework. Plain analysis asks ONNX Runtime for the logits only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emostyle.crops import crop_transform
from emostyle.emotions import EMOTIONS, canonical
from emostyle.images import read_image, write_image
from emostyle.outputs import output_path
from emostyle.pipeline import Analyzer, shared_analyzer
from emostyle.results import Analysis, Face


@dataclass(frozen=True)
class FaceExplanation:
    """The map behind one face's reading: ``heatmap`` is over the aligned ``crop``, in [0, 1]."""

    face: Face
    emotion: str  # the class explained (the prediction unless asked otherwise)
    probability: float
    heatmap: np.ndarray  # float32 (S, S), aligned with ``crop``
    crop: np.ndarray  # uint8 (S, S) or (S, S, 3), as the classifier saw it
    transform: np.ndarray  # 2x3 map from picture pixels to crop pixels

    def overlay(self, size: int = 192) -> np.ndarray:
        """The crop with the map over it, RGB uint8 ``size`` x ``size``."""
        crop = self.crop if self.crop.ndim == 3 else np.repeat(self.crop[..., None], 3, 2)
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
        heat = cv2.resize(self.heatmap, (size, size), interpolation=cv2.INTER_CUBIC)
        return blend_heat(crop, heat)


def normalise_map(cam: np.ndarray) -> np.ndarray:
    """ReLU (only evidence *for* the class) and scale to [0, 1]."""
    cam = np.maximum(cam, 0)
    top = float(cam.max())
    return (cam / top).astype(np.float32) if top > 0 else np.zeros_like(cam, np.float32)


def blend_heat(rgb: np.ndarray, heat: np.ndarray, strength: float = 0.5) -> np.ndarray:
    """``heat`` (same H, W, values 0..1) as a JET colour overlay, weighted by its own value."""
    colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    # Fade the weakest tenth out entirely, so the map has no visible square edge.
    alpha = (strength * np.clip((heat - 0.1) / 0.9, 0, 1))[..., None]
    return (rgb * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)


class Explainer:
    """CAM explanations for every face an :class:`Analyzer` finds."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.classifier = analyzer.classifier

    def explain(self, image: np.ndarray | str | Path, emotions: list[str] | None = None,
                analysis: Analysis | None = None) -> list[FaceExplanation]:
        """Maps for each face: its predicted class, or each of ``emotions`` if given.

        Pass the picture's ``analysis`` when you already have it, to skip detecting again.
        """
        if not isinstance(image, np.ndarray):
            image = read_image(image)
        if analysis is None:
            analysis = self.analyzer.analyze(image)
        clf, pre = self.classifier, self.classifier.pre
        faces = [f.detected for f in analysis.faces]
        if not faces:
            return []
        crops = clf.crops(image, faces)
        _, cams = clf.logits_and_cams(crops)
        wanted = [canonical(e) for e in emotions] if emotions else None
        out = []
        for face, det, crop, cam in zip(analysis.faces, faces, crops, cams, strict=True):
            for emotion in wanted or [face.emotion]:
                k = EMOTIONS.index(emotion)
                heat = cv2.resize(normalise_map(cam[k]), (pre.size, pre.size),
                                  interpolation=cv2.INTER_CUBIC)
                out.append(FaceExplanation(
                    face, emotion, face.probabilities[k], np.clip(heat, 0, 1), crop,
                    crop_transform(det, pre.size, pre.crop_margin, pre.align)))
        return out


def overlay_on_picture(image: np.ndarray, explanations: list[FaceExplanation]) -> np.ndarray:
    """The picture with each face's map warped back onto it (work is limited to face areas)."""
    out = image.copy()
    h, w = image.shape[:2]
    for ex in explanations:
        size = ex.heatmap.shape[0]
        inverse = cv2.invertAffineTransform(ex.transform)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        pts = corners @ inverse.T
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.ceil(pts.max(0)).astype(int)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        shifted = inverse.copy()
        shifted[:, 2] -= (x0, y0)
        heat = cv2.warpAffine(ex.heatmap, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[y0:y1, x0:x1] = blend_heat(out[y0:y1, x0:x1], heat)
    return out


def write_explanations(explainer: Explainer, image: np.ndarray, analysis: Analysis, path: Path,
                       out_dir: Path, inputs: set[Path], written: set[Path],
                       overwrite: bool = True) -> None:
    """``<stem>_explain.jpg`` (maps on the picture) and ``<stem>_face<N>_explain.png``.

    ``inputs`` are never replaced; ``written`` collects this run's files (see
    :func:`emostyle.outputs.output_path`).
    """
    explanations = explainer.explain(image, analysis=analysis)
    write_image(overlay_on_picture(image, explanations),
                output_path(path, out_dir, "explain", inputs, written), overwrite=overwrite)
    for i, ex in enumerate(explanations, 1):
        face_png = output_path(path.with_suffix(".png"), out_dir, f"face{i}_explain", inputs,
                               written)
        write_image(ex.overlay(), face_png, overwrite=overwrite)


def explain(image: np.ndarray | str | Path, model: str = "default",
            emotions: list[str] | None = None) -> list[FaceExplanation]:
    """Class activation maps for every face of a picture.

    >>> from emostyle.explain import explain
    >>> [(e.emotion, e.heatmap.shape) for e in explain("examples/astronaut.jpg")]
    [('happy', (48, 48))]
    """
    return Explainer(shared_analyzer(model)).explain(image, emotions)
