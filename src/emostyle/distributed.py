"""Folder jobs on a Ray cluster: Ray Data ``map_batches`` over the ONNX models.

``analyze``: each Ray worker builds one :class:`~emostyle.pipeline.Analyzer` (one ONNX Runtime
thread, so a node runs as many workers as it has CPUs) and analyzes batches of file paths.
Results stream back to the driver, which writes the same JSON lines as
``emostyle analyze --output``.

``stylize``: each worker loads the painters of :func:`emostyle.paint_batch.load_painters` and
runs :func:`emostyle.paint_batch.paint_file` - the plain folder run's own step, so the style
decision is :func:`emostyle.pipeline.paint`'s on Ray too - and sends back the analysis, the
style choice and the encoded picture. The driver names and writes the files in input order with
:class:`emostyle.paint_batch.PaintingSaver`, as the plain run does: same names, same bytes.

On a real cluster every node needs emostyle installed and read access to the pictures (a shared
or object-store-mounted file system); an emotion model given as a path must be readable there
too. The YuNet face model, the style model (all its graphs and cards) and the styles.toml the
driver reads are shipped from the driver through the object store, so nodes need no copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import pickle
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import EmostyleError, InputError

if TYPE_CHECKING:
    from emostyle.paint_batch import Painted
    from emostyle.pipeline import StyleRequest


def on_this_node(files: dict[str, bytes], kind: str) -> Path:
    """Files shipped from the driver, in a content-addressed folder of this node's cache.

    Written once per node (a temporary name, then a rename) and shared by its workers.
    """
    from emostyle.model_files import cache_dir

    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    folder = cache_dir() / f"{kind}_{digest.hexdigest()[:16]}"
    for name, data in files.items():
        path = folder / name
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.part"
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return folder


def _resolved(value: object) -> object:
    """A constructor argument given as ``[ObjectRef]`` (a reference inside a list is passed as
    is, not resolved, by Ray), fetched; anything else as it is."""
    if isinstance(value, list):
        import ray

        return ray.get(value[0])
    return value


class AnalyzeBatch:
    """Ray Data callable class: a batch of paths in, a batch of JSON records out."""

    def __init__(self, model: str, face_model_bytes: bytes | list | None,
                 min_score: float = DEFAULT_MIN_SCORE) -> None:
        """``face_model_bytes``: the YuNet file's bytes, or ``[ObjectRef]`` to them."""
        from emostyle.pipeline import Analyzer

        face_model_bytes = _resolved(face_model_bytes)
        face_path = None
        if face_model_bytes is not None:
            face_path = on_this_node({"face_model.onnx": face_model_bytes},
                                     "face_model") / "face_model.onnx"
        self.analyzer = Analyzer(model, face_path, min_score=min_score, threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        from emostyle.images import read_image

        records = []
        for path in batch["path"]:
            try:
                rec = self.analyzer.analyze(read_image(path), source=str(path)).to_dict()
            except InputError as exc:
                rec = {"source": str(path), "error": str(exc).removeprefix(f"{path}: ")}
            records.append(json.dumps(rec, ensure_ascii=False))
        return {"record": records}


@dataclass(frozen=True)
class ShippedModels:
    """What a painting worker needs from the driver: the YuNet file (None when the request
    does not look at faces), the style model's files by name (``main`` is its ONNX file) and
    the styles.toml the driver read (None: none, and the node's own is not read either)."""

    face_model: bytes | None
    style_files: dict[str, bytes] = field(repr=False)
    main: str
    styles_toml: bytes | None


class PaintBatch:
    """Ray Data callable class: a batch of paths in, their paintings (pickled) out.

    Each result is ``(analysis, choice, encoded JPEG)``, the reason a picture could not be
    read (a string), or an :class:`EmostyleError` that ends the run (a model that cannot
    paint this picture), as it would end the plain run.
    """

    def __init__(self, request: StyleRequest, shipped: ShippedModels | list, model: str,
                 min_score: float = DEFAULT_MIN_SCORE) -> None:
        from emostyle.paint_batch import load_painters

        shipped = _resolved(shipped)
        style_model = on_this_node(shipped.style_files, "style_model") / shipped.main
        toml: Path | bool = False
        if shipped.styles_toml is not None:
            toml = on_this_node({"styles.toml": shipped.styles_toml},
                                "styles_toml") / "styles.toml"
        face_path = None
        if shipped.face_model is not None:
            face_path = on_this_node({"face_model.onnx": shipped.face_model},
                                     "face_model") / "face_model.onnx"
        self.request = request
        self.stylizer, self.analyzer = load_painters(request, style_model, toml, model,
                                                     face_path, min_score, threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from emostyle.images import encode_image
        from emostyle.paint_batch import PAINTING_SUFFIX, paint_file

        results = []
        for path in batch["path"]:
            try:
                analysis, painting = paint_file(Path(path), self.stylizer, self.analyzer,
                                                self.request)
                result: object = (analysis, painting.choice,
                                  encode_image(painting.image, PAINTING_SUFFIX))
            except InputError as exc:
                result = str(exc).removeprefix(f"{path}: ")
            except EmostyleError as exc:
                result = exc
            results.append(pickle.dumps(result))
        return {"index": list(batch["index"]), "result": results}


CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer a TCP connection in 5 s is down


def ray_address_file() -> Path:
    """Where ``ray start`` records the cluster address that ``address="auto"`` joins."""
    tmp = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(tmp) / "ray" / "ray_current_cluster"


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`EmostyleError` in one line unless the cluster at ``address`` answers.

    ``ray.init`` itself waits minutes for a cluster that is gone (a stale address file);
    a plain TCP connection to its port says so in seconds.
    """
    if address == "local":
        return
    where = "the RAY_ADDRESS variable"
    target = os.environ.get("RAY_ADDRESS") or address
    if target == "auto":
        file = ray_address_file()
        if not file.is_file():
            raise EmostyleError(f"--ray auto: no Ray cluster was started on this machine "
                                f"(no {file}); start one with `ray start --head`, or use "
                                "--ray local")
        target, where = file.read_text().strip(), str(file)
    elif target == address:
        where = "--ray"
    if target.startswith("ray://"):
        if importlib.util.find_spec("grpc") is None:
            raise EmostyleError(f"--ray {target}: ray:// addresses need Ray's client: "
                                "pip install 'emostyle[ray]' (or 'ray[client]')")
        target = target.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EmostyleError(f"--ray {address}: expected local, auto, HOST:PORT or "
                            f"ray://HOST:PORT, got {target!r} (from {where})")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        hint = (f"; {where} is stale: start the cluster again or remove the file"
                if where not in ("--ray", "the RAY_ADDRESS variable") else "")
        raise EmostyleError(f"--ray {address}: the Ray cluster at {host}:{port} (from {where}) "
                            f"does not answer ({reason} within {timeout:.0f} s){hint}") from None


def quiet_ray_data() -> None:
    """Ray Data prints each run's plan and progress on the console at INFO; keep warnings
    there (its log file in the Ray session folder still has everything)."""
    import ray.data  # noqa: F401 - its import sets up the "ray.data" logger

    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setLevel(logging.WARNING)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def map_on_actors(ds, cls: type, kwargs: dict, batch_size: int,  # noqa: ANN001 - a Dataset
                  most: int):  # noqa: ANN201 - ray.data.Dataset
    """``ds.map_batches(cls)`` on a pool of one-CPU actors, at most ``most`` of them (and no
    more than the cluster has CPUs); ``kwargs`` go to ``cls``'s constructor."""
    import ray
    import ray.data

    quiet_ray_data()
    workers = max(1, int(ray.available_resources().get("CPU", 1)))
    # Workers are not restarted: with restarts Ray logs an error line on every run
    # ("constructor arguments in the object store and max_restarts > 0"); a failed run says
    # so in one line. Ray deprecates passing actor options this way (removed in 2.64, hence
    # the bound in pyproject.toml) and offers no other for this.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        return ds.map_batches(cls, fn_constructor_kwargs=kwargs, batch_size=batch_size,
                              num_cpus=1, max_restarts=0,
                              compute=ray.data.ActorPoolStrategy(size=min(workers, most)))


def job_failed(exc: BaseException, count: int) -> EmostyleError:
    """The one line for a Ray job that broke after ``count`` pictures."""
    return EmostyleError(f"the Ray job failed after {count} picture(s): {_first_line(exc)}")


@dataclass
class RayRun:
    """Ray joined or started, and the models checked: what :meth:`analyze` needs.

    Built by :func:`start_ray`; :meth:`close` leaves Ray (shutting it down if it was started
    here).
    """

    model: str
    face_bytes: bytes
    min_score: float
    started_here: bool

    def analyze(self, paths: list[Path], write: Callable[[dict], None],
                batch_size: int = 16) -> int:
        """Analyze ``paths`` on Ray and pass each record to ``write``; returns the count."""
        import ray
        import ray.data

        ds = ray.data.from_items([{"path": str(p)} for p in paths])
        # The face model (230 KB) goes into the object store once, as a reference.
        ds = map_on_actors(ds, AnalyzeBatch, {
            "model": self.model, "face_model_bytes": [ray.put(self.face_bytes)],
            "min_score": self.min_score}, batch_size, max(1, len(paths) // batch_size + 1))
        count = 0
        try:
            for row in ds.iter_rows():
                write(json.loads(row["record"]))
                count += 1
        except ray.exceptions.RayError as exc:
            raise job_failed(exc, count) from None
        return count

    def close(self) -> None:
        if self.started_here:
            import ray

            ray.shutdown()


def import_ray():  # noqa: ANN201 - the ray module
    """``import ray``, or the one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EmostyleError("--ray needs Ray: pip install 'emostyle[ray]'") from None
    return ray


def join_ray(address: str, num_cpus: int | None = None) -> bool:
    """Join or start Ray unless this process already runs it; whether it was started here.

    Raises :class:`EmostyleError` in one line when the cluster does not answer.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    check_reachable(address)
    # Ray's own start-up chatter (and a deprecation warning on the way) is not the user's.
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
              "configure_logging": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if address == "local":
                ray.init(num_cpus=num_cpus, **kwargs)
            else:
                ray.init(address=address, **kwargs)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise EmostyleError(f"--ray {address}: Ray could not start ({_first_line(exc)})"
                            ) from None
    return True


def start_ray(model: str = "default", face_model: str | Path | None = None,
              address: str = "local", num_cpus: int | None = None,
              min_score: float = DEFAULT_MIN_SCORE) -> RayRun:
    """Every check a Ray run needs, then Ray itself: call it before any output is opened.

    Raises :class:`EmostyleError` (one line) when Ray is not installed or the cluster does not
    answer, and :class:`ModelNotFoundError` when a model is missing. ``address`` is ``local``
    (start Ray here with ``num_cpus``), ``auto`` (join this machine's cluster) or a
    ``HOST:PORT`` / ``ray://HOST:PORT`` address.
    """
    import_ray()
    from emostyle.faces import resolve_face_model
    from emostyle.pipeline import Analyzer

    face_path = resolve_face_model(face_model)
    Analyzer(model, face_path, min_score=min_score, threads=1)  # the models load here too
    started = join_ray(address, num_cpus)
    return RayRun(str(model), face_path.read_bytes(), min_score, started_here=started)


def analyze_on_ray(paths: list[Path], write: Callable[[dict], None], model: str = "default",
                   face_model: str | Path | None = None, address: str = "local",
                   num_cpus: int | None = None, batch_size: int = 16,
                   min_score: float = DEFAULT_MIN_SCORE) -> int:
    """Analyze ``paths`` on Ray and pass each record to ``write``; returns the record count.

    ``address`` as in :func:`start_ray`; a Ray instance already running in this process is
    used and left running.
    """
    run = start_ray(model, face_model, address, num_cpus, min_score)
    try:
        return run.analyze(paths, write, batch_size)
    finally:
        run.close()


def analyze_into_jsonl(paths: list[Path], output: Path, model: str = "default",
                       face_model: str | Path | None = None, address: str = "local",
                       min_score: float = DEFAULT_MIN_SCORE, append: bool = False
                       ) -> tuple[int, list[tuple[str, str]]]:
    """Analyze ``paths`` on Ray into the JSON-lines file ``output``: (records, failures).

    Ray, the cluster and the models are checked before the output is touched, and a new output
    is written beside it and renamed into place: a failed run leaves it as it was. ``append``
    (``--resume``) continues ``output`` in place. Failures are ``(source, reason)`` pairs.
    """
    from emostyle.batch import JsonlWriter

    if output.is_dir():
        raise InputError(f"{output}: is a directory, expected a .jsonl file")
    run = start_ray(model, face_model, address, min_score=min_score)
    target = output if append else output.with_name(f".{output.name}.{os.getpid()}.part")
    failed: list[tuple[str, str]] = []
    try:
        writer = JsonlWriter(target, append=append)

        def write(rec: dict) -> None:
            writer.write(rec)
            if "error" in rec:
                failed.append((rec["source"], rec["error"]))

        try:
            n = run.analyze(paths, write)
        finally:
            writer.close()
        if target != output:
            os.replace(target, output)
    finally:
        run.close()
        if target != output:
            target.unlink(missing_ok=True)
    return n, failed


# ------------------------------------------------------------------------------------ painting

@dataclass
class RayPainter:
    """Ray joined or started, and the painters checked: what :meth:`paint` needs.

    Built by :func:`start_paint_ray`; :meth:`close` leaves Ray (shutting it down if it was
    started here).
    """

    request: StyleRequest
    shipped: ShippedModels = field(repr=False)
    model: str
    min_score: float
    started_here: bool

    def paint(self, paths: list[Path], out_dir: Path, inputs: set[Path] | None = None,
              overwrite: bool = False, batch_size: int = 1) -> Iterator[Painted]:
        """Paint ``paths`` on Ray into ``out_dir`` as :func:`~emostyle.paint_batch.paint_files`
        would: the same files, names and records, yielded in input order.

        Pictures come back as the workers finish them and are written in input order (a few
        encoded JPEGs wait for a slower one), so duplicate names get the plain run's ``_2``.
        """
        import ray
        import ray.data

        from emostyle.paint_batch import PaintingSaver, failed

        saver = PaintingSaver(self.request, out_dir, inputs, overwrite)
        ds = ray.data.from_items([{"index": i, "path": str(p)} for i, p in enumerate(paths)])
        ds = map_on_actors(ds, PaintBatch, {
            "request": self.request, "shipped": [ray.put(self.shipped)], "model": self.model,
            "min_score": self.min_score}, batch_size, len(paths))
        waiting: dict[int, object] = {}
        done = 0
        rows = iter(ds.iter_rows())
        while done < len(paths):
            if done not in waiting:
                try:
                    row = next(rows)
                except ray.exceptions.RayError as exc:
                    raise job_failed(exc, done) from None
                except StopIteration:  # never seen; a row lost would otherwise hang or crash
                    raise EmostyleError(f"the Ray job returned {done + len(waiting)} of "
                                        f"{len(paths)} pictures") from None
                waiting[int(row["index"])] = pickle.loads(row["result"])
                continue
            result, path = waiting.pop(done), paths[done]
            done += 1
            if isinstance(result, str):
                yield failed(path, InputError(result))
                continue
            if isinstance(result, EmostyleError):
                raise result
            analysis, choice, encoded = result
            try:
                yield saver.save(path, analysis, choice, encoded)
            except InputError as exc:
                yield failed(path, exc)

    def close(self) -> None:
        if self.started_here:
            import ray

            ray.shutdown()


def start_paint_ray(request: StyleRequest, style_model: str | Path = "styles",
                    styles_toml: Path | None = None, model: str | Path = "default",
                    face_model: str | Path | None = None, address: str = "local",
                    num_cpus: int | None = None, min_score: float = DEFAULT_MIN_SCORE
                    ) -> RayPainter:
    """Every check a Ray painting run needs, then Ray itself: call it before any output is
    written (after checking the outputs).

    Ray must import; the models load here as :func:`~emostyle.paint_batch.load_painters`
    loads them for the plain run (a missing model is a :class:`ModelNotFoundError`, a style
    name the model lacks an :class:`InputError`); then the cluster must answer (one-line
    :class:`EmostyleError`). ``address`` as in :func:`start_ray`.
    """
    import_ray()
    from emostyle.faces import resolve_face_model
    from emostyle.model_files import BUNDLED, style_model_files
    from emostyle.paint_batch import load_painters

    face_path = resolve_face_model(face_model) if request.needs_analysis else None
    stylizer, _ = load_painters(request, style_model, styles_toml, model, face_path,
                                min_score, threads=1)
    files = [f for f in style_model_files(stylizer.model_path, stylizer.card) if f.is_file()]
    shipped = ShippedModels(
        face_model=None if face_path is None else face_path.read_bytes(),
        style_files={f.name: f.read_bytes() for f in files}, main=stylizer.model_path.name,
        styles_toml=None if stylizer.styles_toml is None else stylizer.styles_toml.read_bytes())
    # A bundled name means the same file on every node; a path is made absolute, as a worker
    # need not start in this folder.
    model = str(model) if str(model) in BUNDLED else str(Path(model).resolve())
    started = join_ray(address, num_cpus)
    return RayPainter(request, shipped, model, min_score, started_here=started)
