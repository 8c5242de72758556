"""Emotion classification of face crops on ONNX Runtime, with calibrated probabilities.

The model card beside the ONNX file says how to prepare a crop (size, colour, mean/std, margin,
alignment) and the temperature fitted on PublicTest that turns logits into probabilities that
mean what they say. All faces of a picture go through the network in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.crops import crop_face
from emostyle.emotions import EMOTIONS
from emostyle.errors import EmostyleError, ModelNotFoundError
from emostyle.model_files import ModelCard, open_session, read_card, resolve_model
from emostyle.model_files import session_options as session_options  # the former home
from emostyle.results import DetectedFace


@dataclass(frozen=True)
class Preprocessing:
    """How a face crop becomes the network's input, as stated by the model card."""

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_margin: float
    align: bool

    @classmethod
    def from_card(cls, card: ModelCard | dict) -> Preprocessing:
        inp = card.input if isinstance(card, ModelCard) else card["input"]
        return cls(size=int(inp["size"]), channels=int(inp["channels"]),
                   mean=tuple(float(v) for v in inp["mean"]),
                   std=tuple(float(v) for v in inp["std"]),
                   crop_margin=float(inp.get("crop_margin", 0.0)),
                   align=bool(inp.get("align", True)))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class EmotionClassifier:
    """Seven-emotion classifier for face crops.

    >>> clf = EmotionClassifier("default")            # doctest: +SKIP
    >>> clf.predict_proba(crops).sum(axis=1)          # doctest: +SKIP
    array([1., 1.], dtype=float32)
    """

    def __init__(self, model: str | Path = "default", threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        self.model_path = resolve_model(model)
        self.model_card = read_card(self.model_path)
        self.card = self.model_card.data  # the JSON itself, as before
        # Probabilities are reported in the card's label order, which must be FER2013's: the
        # results, emoji and style catalogue all index by it.
        self.labels = self.model_card.labels
        if self.labels != EMOTIONS:
            raise ModelNotFoundError(f"{self.model_path}: card labels {self.labels} are not the "
                                     f"FER2013 order {EMOTIONS}")
        self.pre = Preprocessing.from_card(self.model_card)
        self.temperature = self.model_card.temperature
        self.tta_flip = self.model_card.tta_flip
        self._session = open_session(self.model_path, threads, providers)
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self.outputs = tuple(o.name for o in self._session.get_outputs())

    @property
    def name(self) -> str:
        return self.model_card.name

    def crops(self, image: np.ndarray, faces: list[DetectedFace]) -> np.ndarray:
        """Face crops as the model wants them: (N, S, S) gray or (N, S, S, 3) RGB uint8."""
        p = self.pre
        out = [crop_face(image, f, p.size, p.crop_margin, p.align, gray=p.channels == 1)
               for f in faces]
        shape = (0, p.size, p.size) + ((3,) if p.channels == 3 else ())
        return np.stack(out) if out else np.zeros(shape, np.uint8)

    def to_tensor(self, crops: np.ndarray) -> np.ndarray:
        x = crops.astype(np.float32) / 255.0
        if x.ndim == 3:
            x = x[:, None]
        else:
            x = x.transpose(0, 3, 1, 2)
        if x.shape[1] != self.pre.channels:
            raise EmostyleError(f"crops have {x.shape[1]} channels, model wants "
                                f"{self.pre.channels}")
        mean = np.asarray(self.pre.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.pre.std, np.float32)[None, :, None, None]
        return np.ascontiguousarray((x - mean) / std)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Raw network outputs (N, 7), averaged with the mirror image when the card asks."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        x = self.to_tensor(crops)
        if self.tta_flip:
            both = self._session.run([self._output], {self._input: np.concatenate(
                [x, x[..., ::-1].copy()])})[0]
            return (both[:len(x)] + both[len(x):]) / 2
        return self._session.run([self._output], {self._input: x})[0]

    @property
    def has_cam(self) -> bool:
        """Whether the model exports class activation maps (see ``emostyle.explain``)."""
        return "cam" in self.outputs

    def logits_and_cams(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (N, 7) and class activation maps (N, 7, h, w) of the crops, no mirroring."""
        if not self.has_cam:
            raise EmostyleError(f"{self.model_path.name} has no 'cam' output; re-export it with "
                                "`emostyle export` (GAP + linear heads only)")
        logits, cams = self._session.run(["logits", "cam"], {self._input: self.to_tensor(crops)})
        return logits, cams

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, 7) in FER2013 order; each row sums to 1."""
        return softmax(self.logits(crops) / self.temperature).astype(np.float32)
