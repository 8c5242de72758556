"""Where model files live, how their JSON cards are read, and how ONNX Runtime opens them.

Every ONNX file emostyle uses has a card beside it (same name, ``.json``) carrying what is needed
to use it correctly - input size, colour, mean/std, crop margin, label order, temperature - and
what it was measured to do. Preprocessing therefore travels with the weights. A new bundled model
(an ensemble, say) is one more entry in :data:`BUNDLED` and one more ONNX + card pair.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emostyle.errors import InputError, ModelNotFoundError
from emostyle.outputs import OutputPlan, temp_beside
from emostyle.tta import card_tta

if TYPE_CHECKING:
    import onnxruntime as ort

BUNDLED_DIR = Path(__file__).resolve().parent / "models"

# Short names users can give instead of a path: name -> file in BUNDLED_DIR.
BUNDLED = {
    "default": "emotion_default.onnx",
    "accurate": "emotion_accurate.json",  # an ensemble card naming its member files
    "styles": "styles_default.onnx",
}


EMOTION_MODELS = ("default", "accurate")  # the bundled names that are emotion classifiers


def installed_emotion_models() -> list[str]:
    """The bundled emotion model names whose files are installed here (for help texts)."""
    return [n for n in EMOTION_MODELS if (BUNDLED_DIR / BUNDLED[n]).is_file()]


def resolve_model(name_or_path: str | Path) -> Path:
    """A bundled model name (``default``, ``accurate``, ...) or a path -> an existing ONNX file."""
    key = str(name_or_path)
    if key in BUNDLED:
        path = BUNDLED_DIR / BUNDLED[key]
        if not path.is_file():
            raise ModelNotFoundError(f"bundled model {key!r} is not installed ({path} missing)")
        return path
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(n for n in BUNDLED if (BUNDLED_DIR / BUNDLED[n]).is_file())
        raise ModelNotFoundError(f"{path}: model file not found (bundled names: {names})")
    return path


STYLE_GRAPHS = ("tiling", "map")  # the graphs a style model carries beside its main one


def style_graph_path(model_path: str | Path, graph: str, card: dict | None = None) -> Path:
    """Where a style model's ``tiling`` or ``map`` graph lives: the card's entry when it has
    one, else ``<stem>_<graph>.onnx`` beside the model (the exporter's names)."""
    if graph not in STYLE_GRAPHS:
        raise ValueError(f"unknown style graph {graph!r}")
    model_path = Path(model_path)
    info = (card or {}).get(f"{graph}_model") or {}
    return model_path.with_name(info.get("file", f"{model_path.stem}_{graph}.onnx"))


def style_model_files(model_path: str | Path, card: dict | None = None) -> list[Path]:
    """Every file an exported style model consists of (graphs and their cards), so a writer
    can check them all before work and a copier can copy them all; ``card`` (the model's)
    names graphs stored under other names."""
    model_path = Path(model_path)
    graphs = [model_path] + [style_graph_path(model_path, g, card) for g in STYLE_GRAPHS]
    return [f for g in graphs for f in (g, g.with_suffix(".json"))]


def check_style_model_output(output: Path, what: str, overwrite: bool,
                             inputs: list[Path]) -> None:
    """A style model is six files (three graphs, their cards): all are checked before any
    work, so an export never replaces a model, its companions or an input unasked."""
    if output.suffix.lower() != ".onnx":
        raise InputError(f"{output}: the output must end in .onnx")
    plan = OutputPlan(set(inputs), overwrite)
    for path in style_model_files(output):
        plan.file(path, what)
    plan.check()


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class ModelCard:
    """The card of one model, typed; ``data`` keeps the whole JSON for model-specific fields."""

    name: str
    architecture: str = "?"
    summary: str = ""
    labels: tuple[str, ...] = ()
    temperature: float = 1.0
    tta: str = "none"  # test-time views averaged at inference (emostyle.tta)
    input: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict, default_name: str = "model") -> ModelCard:
        return cls(name=str(data.get("name", default_name)),
                   architecture=str(data.get("architecture", "?")),
                   summary=str(data.get("summary", "")),
                   labels=tuple(data.get("labels", ())),
                   temperature=float(data.get("temperature", 1.0)),
                   tta=card_tta(data),
                   input=dict(data.get("input") or {}),
                   metrics=dict(data.get("metrics") or {}),
                   data=data)

    @property
    def tta_flip(self) -> bool:
        """Whether the model averages any test-time views (the older, flip-only name)."""
        return self.tta != "none"

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the JSON that has no attribute of its own (style lists, tiling graph)."""
        return self.data.get(key, default)


def read_card(model_path: str | Path) -> ModelCard:
    """The typed card beside ``model_path``; a model without a card cannot be used safely."""
    return ModelCard.from_dict(load_card(model_path), Path(model_path).stem)


def load_card(model_path: str | Path) -> dict:
    """The JSON card beside ``model_path``; a model without a card cannot be used safely."""
    path = card_path(model_path)
    if not path.is_file():
        raise ModelNotFoundError(f"{model_path}: its model card {path.name} is missing; "
                                 "export models with `emostyle export` to get one")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelNotFoundError(f"{path}: unreadable model card ({exc})") from None


def bundled_models() -> list[Path]:
    """Models shipped inside the package: the ONNX files, and ensemble cards (``accurate``)
    that name their member files (members themselves are listed by their ensemble)."""
    ensembles = []
    for path in sorted(BUNDLED_DIR.glob("*.json")):
        if path.with_suffix(".onnx").is_file():
            continue
        try:
            if load_card(path).get("kind") == "ensemble":
                ensembles.append(path)
        except ModelNotFoundError:
            continue
    return sorted([*BUNDLED_DIR.glob("*.onnx"), *ensembles])


def model_bytes(path: Path) -> int:
    """Bytes a model takes: its file, or an ensemble's members together."""
    if path.suffix == ".json":
        return int(load_card(path).get("bytes", path.stat().st_size))
    return path.stat().st_size


def cache_dir() -> Path:
    """The user cache of downloaded and unpacked model files (``$XDG_CACHE_HOME/emostyle``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emostyle"


# How a process uses its sessions, which decides how ONNX Runtime's worker threads wait:
# "service" - kept and run again and again (the web app, a video, a library user's loop): ONNX
#   Runtime's default, idle workers spin a while for the next piece of work.
# "command" - a command that opens its models, runs them on a few pictures and exits (emostyle
#   stylize): idle workers sleep at once. A spinning worker takes a core from the threads that
#   build the other models meanwhile and from the detector; for one 512x384 photo, 2 cores under
#   load, spinning off cut the CPU time of opening the style model from 94 to 41 ms, of its
#   first run from 414 to 329 ms and of opening the face and emotion models from 166 to 96 ms
#   (medians of 7; the outputs are bit-identical). A model run again and again but in turn with
#   other native work (the emotion model after the face detector, in `pipeline.Analyzer`) is
#   opened this way too.
SESSION_USES = ("service", "command")


def session_options(threads: int | None, memory_pattern: bool = True, use: str = "service"
                    ) -> ort.SessionOptions:
    """ONNX Runtime options for our models; ``use`` is one of :data:`SESSION_USES`.

    ``memory_pattern=False`` for graphs that see a new input size on nearly every call (the
    style network): ONNX Runtime's memory pattern plans one big block per shape, which only
    pays when shapes repeat; without it a 1024x768 stylisation peaked at 405 instead of
    549 MiB, at the same speed (first call 0.77 s both ways, 2 cores).
    """
    import onnxruntime as ort  # here: reading a card or a path needs no ONNX Runtime

    if use not in SESSION_USES:
        raise ValueError(f"unknown session use {use!r}; expected one of {SESSION_USES}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_mem_pattern = memory_pattern
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if use == "command":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def releasing_run_options() -> ort.RunOptions:
    """Run options that hand ONNX Runtime's CPU arena back at the end of every run.

    The arena otherwise keeps its largest size for the life of the session: a process holding
    160 MB that painted a 4096x3072 photo at 768 px three times held 347 MB afterwards, and
    169 MB with these options (both after ``malloc_trim``; the peak fell from 477 to 375 MB).
    For a server that runs a graph now and then; a loop feeding one size keeps its arena.
    """
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def open_session(path: str | Path, threads: int | None = None,
                 providers: list[str] | None = None, memory_pattern: bool = True,
                 use: str = "service") -> ort.InferenceSession:
    """An ONNX Runtime session on ``path`` for ``use`` (see :data:`SESSION_USES`); an
    unloadable file is a :class:`ModelNotFoundError`.

    A command's CPU session is opened from the graph ONNX Runtime optimised for this machine
    the first time (:func:`optimized_copy`), so it does not optimise the graph again on every
    run.
    """
    import onnxruntime as ort

    options = session_options(threads, memory_pattern, use)  # a bad use is our bug: raise it
    providers = providers or ["CPUExecutionProvider"]
    try:
        if use == "command" and providers == ["CPUExecutionProvider"]:
            return _open_optimized(Path(path), options, providers)
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelNotFoundError(f"{path}: cannot load ONNX model ({exc})") from None


# A command opens its models once per run, and ONNX Runtime's graph optimisation (constant
# folding, fusions, the blocked-layout rewrite of convolutions) was most of that: the style
# network took 29 ms of CPU to open from its file and 7 ms from the graph ONNX Runtime had
# optimised, the emotion model 8.5 and 3.1 ms (medians of 9, 2 cores under load), with
# bit-identical outputs. The optimised graph holds kernels chosen for this processor, so its
# name carries the instruction sets, the ONNX Runtime version and the model file's identity.
OPTIMIZED_DIR = "onnxruntime"


def optimized_copy(path: Path) -> Path:
    """Where the graph ONNX Runtime optimised from ``path`` on this machine is kept."""
    import platform
    import zlib

    import onnxruntime as ort

    stat = path.stat()
    key = "|".join((ort.__version__, str(path.resolve()), str(stat.st_size),
                    str(stat.st_mtime_ns), platform.machine(), _instruction_sets()))
    return cache_dir() / OPTIMIZED_DIR / f"{path.stem}-{zlib.crc32(key.encode()):08x}.onnx"


def _instruction_sets() -> str:
    try:  # Linux: the first processor's flags (x86) or features (ARM)
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        import platform

        return platform.processor()


def _forget_older_copies(saved: Path) -> None:
    # One copy per model name: a model file that was replaced (or ONNX Runtime upgraded) leaves
    # no stale copies behind, nor do test runs' temporary models.
    stem = saved.name[:-len("-00000000.onnx")]
    for other in saved.parent.iterdir():
        if other != saved and other.name.startswith(f"{stem}-") and len(
                other.name) == len(saved.name) and other.suffix == ".onnx":
            with suppress(OSError):
                other.unlink()


def _open_optimized(path: Path, options: ort.SessionOptions, providers: list[str]
                    ) -> ort.InferenceSession:
    """A session from the optimised copy of ``path``; without one, from ``path``, writing the
    copy (atomically) for the next run. A damaged copy or an unwritable cache only costs the
    optimisation."""
    import onnxruntime as ort

    saved = optimized_copy(path)
    if saved.is_file():
        level = options.graph_optimization_level
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(saved), options, providers=providers)
        except Exception:  # noqa: BLE001 - damaged: optimise again and replace it
            options.graph_optimization_level = level
    tmp = temp_beside(saved)
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        options.optimized_model_filepath = str(tmp)
        session = ort.InferenceSession(str(path), options, providers=providers)
        os.replace(tmp, saved)
        _forget_older_copies(saved)
        return session
    except Exception:  # noqa: BLE001 - the cache could not be written; a bad model fails below
        options.optimized_model_filepath = ""
        return ort.InferenceSession(str(path), options, providers=providers)
    finally:
        with suppress(OSError):  # (an unwritable cache: no folder to look in)
            tmp.unlink(missing_ok=True)
