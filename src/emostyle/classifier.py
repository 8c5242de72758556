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
from emostyle.tta import combine, expand


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


def is_ensemble_card(card: dict) -> bool:
    return card.get("kind") == "ensemble"


def ensemble_member_paths(card_file: Path, card: dict) -> list[Path]:
    """The member ONNX files an ensemble card names, relative to the card's folder."""
    members = card.get("members") or []
    if not members:
        raise ModelNotFoundError(f"{card_file}: ensemble card lists no members")
    paths = [card_file.parent / str(m["file"]) for m in members]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ModelNotFoundError(f"{card_file}: ensemble member file(s) missing: "
                                 f"{', '.join(missing)}")
    return paths


def mean_log_proba(scaled_logits: list[np.ndarray]) -> np.ndarray:
    """log of the members' averaged probabilities: an ensemble's "logits".

    Averaging calibrated probabilities (not raw logits) lets members of different
    sharpness vote with equal say; the log keeps the classifier's contract that
    ``softmax(logits / T)`` gives the probabilities, with the ensemble's own T on top.
    """
    p = np.mean([softmax(z.astype(np.float64)) for z in scaled_logits], axis=0)
    return np.log(np.maximum(p, 1e-12)).astype(np.float32)


@dataclass
class _Member:
    """One ONNX network and the temperature that calibrates it on its own."""

    session: object  # onnxruntime.InferenceSession
    input: str
    outputs: tuple[str, ...]
    temperature: float

    @classmethod
    def load(cls, path: Path, threads: int | None, providers: list[str] | None,
             expected: Preprocessing | None, temperature: float | None = None,
             use: str = "service") -> _Member:
        if expected is not None:
            card = read_card(path)
            if Preprocessing.from_card(card) != expected:
                raise ModelNotFoundError(f"{path}: member preprocessing differs from its "
                                         "ensemble card's")
            if card.labels != EMOTIONS:
                raise ModelNotFoundError(f"{path}: member labels are not the FER2013 order")
            temperature = card.temperature
        session = open_session(path, threads, providers, use=use)
        return cls(session, session.get_inputs()[0].name,
                   tuple(o.name for o in session.get_outputs()), float(temperature or 1.0))

    def run(self, names: list[str], x: np.ndarray) -> list[np.ndarray]:
        # Older exports name their single output differently; "logits" means the first one.
        names = [n if n in self.outputs else self.outputs[0] for n in names]
        return self.session.run(names, {self.input: x})


class EmotionClassifier:
    """Seven-emotion classifier for face crops: one network, or an ensemble card's members.

    >>> clf = EmotionClassifier("default")            # doctest: +SKIP
    >>> clf.predict_proba(crops).sum(axis=1)          # doctest: +SKIP
    array([1., 1.], dtype=float32)

    ``use``: how the process uses the network (:data:`emostyle.model_files.SESSION_USES`).
    """

    def __init__(self, model: str | Path = "default", threads: int | None = None,
                 providers: list[str] | None = None, use: str = "service") -> None:
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
        self.tta = self.model_card.tta  # the views averaged at inference (emostyle.tta)
        if is_ensemble_card(self.card):
            self._members = [_Member.load(path, threads, providers, self.pre, use=use)
                             for path in ensemble_member_paths(self.model_path, self.card)]
        else:
            self._members = [_Member.load(self.model_path, threads, providers, None,
                                          temperature=1.0, use=use)]
        self.outputs = self._members[0].outputs if len(self._members) == 1 else tuple(
            o for o in self._members[0].outputs
            if all(o in m.outputs for m in self._members) and o != "features")

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
        """Raw network outputs (N, 7), averaged over the card's test-time views (``tta``)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        x = expand(self.to_tensor(crops), self.tta)
        if len(self._members) == 1:
            z = self._members[0].run(["logits"], x)[0]
        else:
            z = mean_log_proba([m.run(["logits"], x)[0] / m.temperature
                                 for m in self._members])
        return combine(z, len(crops), self.tta)

    @property
    def tta_flip(self) -> bool:
        """Whether any test-time views are averaged (the older, flip-only name)."""
        return self.tta != "none"

    def use_tta(self, on: bool) -> None:
        """Evaluate with the card's own views (the mirror where the card names none), or the
        crop alone: ``evaluate --tta`` measures what ships, whatever views that is."""
        card_mode = self.model_card.tta
        self.tta = (card_mode if card_mode != "none" else "flip") if on else "none"

    @property
    def has_cam(self) -> bool:
        """Whether the model exports class activation maps (see ``emostyle.explain``)."""
        return "cam" in self.outputs

    def logits_and_cams(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (N, 7) and class activation maps (N, 7, h, w) of the crops, no mirroring."""
        if not self.has_cam:
            raise EmostyleError(f"{self.model_path.name} has no 'cam' output; re-export it with "
                                "`emostyle export` (GAP + linear heads only)")
        x = self.to_tensor(crops)
        if len(self._members) == 1:
            logits, cams = self._members[0].run(["logits", "cam"], x)
            return logits, cams
        # An ensemble's map: each member's map on its calibrated scale, averaged.
        runs = [m.run(["logits", "cam"], x) for m in self._members]
        logits = mean_log_proba([z / m.temperature for (z, _), m in zip(runs, self._members,
                                                                           strict=True)])
        cams = np.mean([c / m.temperature for (_, c), m in zip(runs, self._members, strict=True)],
                       axis=0)
        return logits, cams

    @property
    def members(self) -> int:
        """How many networks vote: 1 for a single model, N for an ensemble card."""
        return len(self._members)

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, 7) in FER2013 order; each row sums to 1."""
        return softmax(self.logits(crops) / self.temperature).astype(np.float32)
