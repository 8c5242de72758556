"""What the web app does with a picture, without Streamlit: read, analyse, paint, encode.

The pages in this package are thin: they call these functions and lay out the results. Keeping
the logic here means it is tested without a browser and behaves the same for every page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from emostyle import pipeline
from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.emotions import COLORS_BGR, EMOJI, EMOTIONS
from emostyle.errors import ImageReadError, InputError, ModelNotFoundError, StylesUnavailable
from emostyle.images import IMAGE_SUFFIXES, read_image
from emostyle.model_files import BUNDLED, BUNDLED_DIR, bundled_models, load_card
from emostyle.pipeline import Analyzer
from emostyle.results import Analysis
from emostyle.uncertainty import UNCERTAIN_LABEL, UNCERTAIN_MARK

# Pictures are analysed, shown and painted at most this big: a 12000x9000 upload would make
# every rerun of the page (and every download) slow. The CLI works at full size.
MAX_SIDE = 4096
# The largest upload the photo page reads, and the upload box's transfer limit above it
# (``server.maxUploadSize``). A file over the box's limit is refused by the browser and never
# reaches the app, so only the box's own chip can say so; a file between the two reaches the
# page, which drops the previous results and says why in the page itself.
MAX_UPLOAD_MB = 100
UPLOAD_TRANSFER_MB = 200
# Analysers are built with this detection score; the page's threshold filters above it, so
# moving the slider does not load a new model.
MIN_DETECTION_SCORE = 0.3
DEFAULT_DETECTION_SCORE = DEFAULT_MIN_SCORE
# Long side the style network runs at; the result is brought back to full size edge-aware.
DEFAULT_STYLE_SIDE = 768
UPLOAD_TYPES = tuple(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
EMOTION_MODEL_NAMES = ("default", "accurate")
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Upload:
    """A decoded upload: RGB pixels (downscaled when huge) and what the user should know."""

    image: np.ndarray
    name: str
    original_size: tuple[int, int]  # width, height as uploaded
    notes: tuple[str, ...] = ()

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "photo"


# Page scripts (a photo upload's decode, analysis and painting) run this much nicer than the
# live mirror's socket handlers: on a 2-core machine a painting otherwise takes the core a
# mirror frame needs, and the mirror's replies stall for as long as the painting runs.
PAGE_NICE = 10


def lower_page_priority(nice: int = PAGE_NICE) -> bool:
    """Run the calling thread, and the threads it starts from now on, at ``nice``.

    Streamlit runs each page run in a thread of its own, so this touches neither the mirror's
    threads nor the next run's. Linux only: there a nice value belongs to one thread, where
    other systems would lower the whole server. It only ever raises the value (an unprivileged
    thread cannot lower it again). Returns whether the thread now runs at ``nice`` or nicer.
    """
    if sys.platform != "linux":
        return False
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        return False
    return True


def safe_name(name: str) -> str:
    """A file name from the browser, reduced to something safe to create in a temp folder."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")
    return base[:120] or "upload"


def decode_upload(data: bytes, name: str, max_side: int = MAX_SIDE) -> Upload:
    """Uploaded bytes -> an upright RGB picture, through the same reader as the CLI.

    Raises :class:`ImageReadError` naming the upload (not a temp path) when the bytes are not a
    picture. Pictures longer than ``max_side`` are scaled down, with a note saying so.
    """
    shown = safe_name(name)
    if not data:
        raise ImageReadError(f"{shown}: empty file (0 bytes)")
    with tempfile.TemporaryDirectory(prefix="emostyle-upload-") as tmp:
        path = Path(tmp) / shown
        path.write_bytes(data)
        try:
            image = read_image(path)
        except InputError as exc:
            raise ImageReadError(str(exc).replace(str(path), shown)) from None
    h, w = image.shape[:2]
    notes: list[str] = []
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        notes.append(f"{shown} is {w}x{h} px, too large to work with comfortably here: it was "
                     f"scaled down to {size[0]}x{size[1]}. `emostyle analyze` and "
                     "`emostyle stylize` work at full size.")
    return Upload(image, shown, (w, h), tuple(notes))


def upload_too_large(name: str, size: int, limit_mb: float | None = None) -> str | None:
    """Why an upload of ``size`` bytes is refused (over :data:`MAX_UPLOAD_MB`), else None."""
    limit_mb = MAX_UPLOAD_MB if limit_mb is None else limit_mb
    if size <= limit_mb * 2**20:
        return None
    return (f"{name} is {size / 2**20:.1f} MB, over the {limit_mb:g} MB limit for photos "
            "here, so it was not read and the previous results are cleared. Upload a smaller "
            "file (a JPEG of the photo), or use `emostyle analyze` for big ones.")


def upload_key(data: bytes) -> str:
    """A short content hash: the cache key of everything computed from one upload."""
    return hashlib.sha256(data).hexdigest()[:20]


class SharedAnalyzer:
    """An :class:`Analyzer` that several threads share, taking turns under a lock.

    One picture at a time, hence the lock: two at once would only split the same cores and
    both finish later. The two kinds of work never share one: the photo page's sessions share
    theirs (``ui.analyzer``), and the mirror's streams share the mirror's own
    (``MirrorService``, one ONNX thread), so a phone-size upload, seconds of work, never
    queues a 20 ms camera frame. The second analyser this takes costs 20.3 MB resident with the
    default model once it has read a frame, and 28.8 MB more once it has read a 4096x3072
    photo: its buffers for the 960 px detection copy (medians of
    ``python benchmarks/analyzer_memory.py --model default --repeats 5``, in
    ``benchmarks/results/analyzer_memory.json``).
    """

    def __init__(self, model: str | Path = "default", detect: bool = True,
                 threads: int | None = None) -> None:
        self.model = str(model)
        self.detect = detect
        self._analyzer = Analyzer(model, detect=detect, min_score=MIN_DETECTION_SCORE,
                                  threads=threads)
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self._analyzer.classifier.name

    def analyze(self, image: np.ndarray, min_score: float = DEFAULT_DETECTION_SCORE,
                source: str | None = None) -> Analysis:
        """Faces and emotions of an RGB picture, keeping faces detected with ``min_score``."""
        return self.analyze_timed(image, min_score, source)[0]

    def analyze_timed(self, image: np.ndarray, min_score: float = DEFAULT_DETECTION_SCORE,
                      source: str | None = None) -> tuple[Analysis, float, float]:
        """:meth:`analyze`, and the seconds spent waiting for the lock and then working."""
        asked = time.perf_counter()
        with self._lock:
            started = time.perf_counter()
            result = self._analyzer.analyze(image, source=source)
            done = time.perf_counter()
        result = keep_confident(result, min_score) if self.detect else result
        return result, started - asked, done - started

    def explained(self, image: np.ndarray, analysis: Analysis) -> np.ndarray:
        """The picture with each face's class activation map laid over it.

        Raises :class:`EmostyleError` when the model exports no maps (see emostyle.explain).
        """
        from emostyle.explain import Explainer, overlay_on_picture

        with self._lock:
            explanations = Explainer(self._analyzer).explain(image, analysis=analysis)
        return overlay_on_picture(image, explanations)


def keep_confident(analysis: Analysis, min_score: float) -> Analysis:
    """``analysis`` without the faces whose detection score is below ``min_score``."""
    kept = tuple(f for f in analysis.faces if f.detection_score >= min_score)
    if len(kept) == len(analysis.faces):
        return analysis
    dropped = len(analysis.faces) - len(kept)
    notes = tuple(analysis.notes)
    if not kept:
        notes += (f"no face with a detection score of at least {min_score:.2f} ({dropped} "
                  "weaker candidate(s): lower the confidence threshold to see them)",)
    return replace(analysis, faces=kept, notes=notes)


def left_to_right(analysis: Analysis) -> Analysis:
    """Faces ordered by their left edge, so "face 1, 2, 3" reads like the picture."""
    return replace(analysis, faces=tuple(sorted(analysis.faces, key=lambda f: f.box[0])))


def emotion_models() -> list[str]:
    """The bundled emotion models installed here (``default`` always, ``accurate`` if any)."""
    return [n for n in EMOTION_MODEL_NAMES if (BUNDLED_DIR / BUNDLED[n]).is_file()]


def save_uploaded_model(files: list[tuple[str, bytes]], folder: Path | None = None) -> Path:
    """An exported model uploaded as its ``.onnx`` and ``.json`` card -> a usable local path.

    The pair is stored under a folder named by its content hash, so the same upload maps to
    the same path (and to the same cached model). Raises :class:`InputError` when the pair is
    incomplete or the card is not JSON.
    """
    by_suffix: dict[str, tuple[str, bytes]] = {}
    for name, data in files:
        by_suffix[Path(name).suffix.lower()] = (name, data)
    if ".onnx" not in by_suffix or ".json" not in by_suffix:
        raise InputError("upload the exported .onnx file together with its .json model card "
                         "(both are written by `emostyle export`)")
    onnx_name, onnx_data = by_suffix[".onnx"]
    _, card_data = by_suffix[".json"]
    try:
        json.loads(card_data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"the model card is not valid JSON ({exc})") from None
    digest = hashlib.sha256(onnx_data + b"\0" + card_data).hexdigest()[:16]
    base = folder or Path(tempfile.gettempdir()) / "emostyle-app-models"
    target = base / digest
    target.mkdir(parents=True, exist_ok=True)
    stem = Path(safe_name(onnx_name)).stem or "model"
    (target / f"{stem}.onnx").write_bytes(onnx_data)
    (target / f"{stem}.json").write_bytes(card_data)
    return target / f"{stem}.onnx"


# ------------------------------------------------------------------------------ presentation

def hex_color(emotion: str) -> str:
    b, g, r = COLORS_BGR[emotion]
    return f"#{r:02x}{g:02x}{b:02x}"


def probability_rows(probabilities: tuple[float, ...] | list[float]) -> list[dict]:
    """One row per emotion, FER2013 order: what a bar chart of the probabilities needs."""
    return [{"emotion": e, "label": f"{EMOJI[e]} {e}", "probability": float(p),
             "color": hex_color(e)}
            for e, p in zip(EMOTIONS, probabilities, strict=True)]


def face_title(index: int, face) -> str:  # noqa: ANN001 - Face
    """The heading of a face's panel; a face too small or unclear to read says so instead of
    naming an emotion (its bars still show what the model thought)."""
    if face.uncertain:
        return (f"Face {index}: {UNCERTAIN_MARK} {UNCERTAIN_LABEL} ({face.uncertain_reason}; "
                f"best guess {face.emotion} {face.confidence:.0%})")
    return f"Face {index}: {face.emoji} {face.emotion} {face.confidence:.0%}"


def mood_line(analysis: Analysis) -> str:
    """The picture's mood in words, or why there is none."""
    probs = analysis.mood_probabilities
    if probs is None:
        return "no face, so no mood"
    mood = analysis.mood
    share = max(probs)
    faces = len(analysis.faces)
    of = "the face" if faces == 1 else f"{faces} faces, weighted by size"
    return f"{EMOJI[mood]} {mood} ({share:.0%}, from {of})"


def analysis_json(analysis: Analysis, model: str, extra_notes: tuple[str, ...] = ()) -> str:
    doc = analysis.to_dict()
    doc["model"] = model
    doc["notes"] = list(extra_notes) + doc["notes"]
    return json.dumps(doc, ensure_ascii=False, indent=2)


# The widest picture Streamlit sends to a page (its MAXIMUM_CONTENT_WIDTH, 2 x 730 px). Handed a
# wider array, st.image encodes it whole (JPEG quality 100), decodes that again, resizes and
# re-encodes it, all in the page's thread and much of it holding the GIL: about 200 ms of CPU
# for a 4096x3072 photo, twice per upload, while the mirror's socket and frames wait their turns
# for the GIL.
SCREEN_WIDTH = 1460
SCREEN_QUALITY = 90  # what Streamlit re-encodes a resized picture at


def screen_jpeg(image: np.ndarray, width: int = SCREEN_WIDTH,
                quality: int = SCREEN_QUALITY) -> bytes:
    """An RGB picture as the JPEG a page shows: at most ``width`` px wide, for ``st.image``.

    What Streamlit itself would send for a wider picture; ``st.image`` passes a JPEG this
    narrow through untouched (give it ``output_format="JPEG"``).
    """
    return jpeg_bytes(image, quality, width)


def jpeg_bytes(image: np.ndarray, quality: int = 92, width: int | None = None) -> bytes:
    """An RGB (or gray) picture as JPEG bytes, scaled down to ``width`` px if it is wider:
    what the page shows and what its download buttons hand out.

    Made with OpenCV, which releases the GIL for the whole resize and encode. Pillow's encoder
    holds it: a 4000x3000 download took about 45 ms of GIL per upload, and every mirror frame
    waiting to take the GIL back after its own OpenCV or ONNX call queued behind it.
    """
    h, w = image.shape[:2]
    if width is not None and w > width:
        size = (width, max(1, round(h * width / w)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError(f"could not encode a {w}x{h} picture as JPEG")
    return data.tobytes()


# ---------------------------------------------------------------------------------- painting

@dataclass(frozen=True)
class StyleRequest(pipeline.StyleRequest):
    """How the user wants the picture painted: :class:`emostyle.pipeline.StyleRequest` with the
    app's painting resolution (``DEFAULT_STYLE_SIDE``) as its default ``max_side``."""

    max_side: int | None = DEFAULT_STYLE_SIDE


StyleChoice = pipeline.StyleChoice


def choose_style(analysis: Analysis, request: StyleRequest,
                 stylizer=None) -> StyleChoice:  # noqa: ANN001 - Stylizer | None
    """Resolve ``request`` against the picture's mood; see :func:`emostyle.pipeline.choose_style`.

    Give the ``stylizer`` so its catalogue decides which emotions have a style.
    """
    return pipeline.choose_style(analysis, request, stylizer)


# `emostyle app --style-model FILE` hands the app a style model other than the bundled one (one
# made by `emostyle add-style`, say) through this variable.
STYLE_MODEL_ENV = "EMOSTYLE_STYLE_MODEL"


def style_model_name() -> str:
    """The style model the app paints with: ``$EMOSTYLE_STYLE_MODEL`` or the bundled one."""
    return os.environ.get(STYLE_MODEL_ENV) or "styles"


def style_choices(stylizer) -> list[str]:  # noqa: ANN001 - Stylizer | None
    """What the "an emotion I pick" list offers: the seven emotions, then the model's styles
    that no emotion is painted in (an added painting, say), by name."""
    extra = [] if stylizer is None else [n for n in stylizer.styles if n not in EMOTIONS]
    return [*EMOTIONS, *extra]


def load_stylizer(model: str = "styles"):  # noqa: ANN201 - emostyle.stylizer.Stylizer
    """The style-transfer model, or :class:`StylesUnavailable` saying what is missing."""
    try:
        from emostyle.stylizer import Stylizer
    except ImportError as exc:
        raise StylesUnavailable(f"style transfer is not part of this installation ({exc})"
                                ) from None
    try:
        # The app paints now and then, each photo at its own size: memory goes back after each.
        return Stylizer(model, release_memory=True)
    except ModelNotFoundError as exc:
        raise StylesUnavailable(f"the style model is not installed: {exc}") from None


def paint(stylizer, image: np.ndarray, choice: StyleChoice,  # noqa: ANN001 - Stylizer
          request: StyleRequest) -> np.ndarray:
    """``image`` repainted as ``choice`` and ``request`` say (:func:`pipeline.paint_choice`)."""
    return pipeline.paint_choice(stylizer, image, choice, request).image


def style_painting(stylizer, emotion: str) -> str | None:  # noqa: ANN001 - Stylizer
    """The painting(s) the stylizer paints ``emotion`` after (None if unknown or unstyled)."""
    painting_for = getattr(stylizer, "painting_for", None)
    return painting_for(emotion) if painting_for is not None else None


# ------------------------------------------------------------------------------- model cards

def model_cards() -> list[tuple[Path, dict]]:
    """Every bundled model's card, ``(onnx path, card)``, emotion models first."""
    cards = []
    for path in bundled_models():
        try:
            cards.append((path, load_card(path)))
        except ModelNotFoundError:
            continue
    return sorted(cards, key=lambda pc: (not pc[0].name.startswith("emotion"), pc[0].name))


def docs_dir() -> Path | None:
    """The source checkout's ``docs/`` (comparison table and plots); None when installed."""
    docs = REPO_ROOT / "docs"
    return docs if (REPO_ROOT / "pyproject.toml").is_file() and docs.is_dir() else None


def docs_file(relative: str) -> Path | None:
    """``docs/<relative>`` of the source checkout when it is there (None when installed)."""
    docs = docs_dir()
    path = docs / relative if docs else None
    return path if path is not None and path.is_file() else None


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def page_markdown(text: str, folder: str = "docs") -> str:
    """Markdown from ``docs/`` made fit for a page: image links dropped (a page shows its
    figures with ``st.image``, from real paths) and relative links, which would be broken in
    the app, turned into their text and the file they name (``folder/target``)."""
    text = _IMAGE.sub("", text)

    def link(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+://|#|mailto:", target):
            return m.group(0)
        where = f"{folder}/{target}".replace("/./", "/")
        return f"`{where}`" if label.strip("`") in (target, where) else f"{label} (`{where}`)"

    return re.sub(r"\n{3,}", "\n\n", _LINK.sub(link, text))
