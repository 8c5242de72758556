"""The folder job on a Ray cluster: Ray Data ``map_batches`` over the ONNX models.

Each Ray worker builds one :class:`~emostyle.pipeline.Analyzer` (one ONNX Runtime thread, so a
node runs as many workers as it has CPUs) and analyzes batches of file paths. Results stream
back to the driver, which writes the same JSON lines as ``emostyle analyze --output``.

On a real cluster every node needs emostyle installed and read access to the pictures (a shared
or object-store-mounted file system). The YuNet face model is shipped from the driver through
the object store, so nodes need no copy of their own.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import EmostyleError, InputError


class AnalyzeBatch:
    """Ray Data callable class: a batch of paths in, a batch of JSON records out."""

    def __init__(self, model: str, face_model_bytes: bytes | list | None,
                 min_score: float = DEFAULT_MIN_SCORE) -> None:
        """``face_model_bytes``: the YuNet file's bytes, or ``[ObjectRef]`` to them (a
        reference inside a list is passed as is, not resolved, by Ray)."""
        import hashlib

        from emostyle.model_files import cache_dir
        from emostyle.pipeline import Analyzer

        if isinstance(face_model_bytes, list):
            import ray

            face_model_bytes = ray.get(face_model_bytes[0])

        face_path = None
        if face_model_bytes is not None:
            # Content-addressed in the node's cache: written once per node, shared by workers.
            digest = hashlib.sha256(face_model_bytes).hexdigest()[:16]
            face_path = cache_dir() / f"face_model_{digest}.onnx"
            if not face_path.is_file():
                face_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = face_path.with_suffix(f".{os.getpid()}.part")
                tmp.write_bytes(face_model_bytes)
                os.replace(tmp, face_path)
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

        quiet_ray_data()
        workers = max(1, int(ray.available_resources().get("CPU", 1)))
        ds = ray.data.from_items([{"path": str(p)} for p in paths])
        # The face model (230 KB) goes into the object store once, as a reference. Workers
        # are not restarted: with restarts Ray logs an error line on every run ("constructor
        # arguments in the object store and max_restarts > 0"); a failed run says so in one
        # line. Ray deprecates passing actor options this way
        # (removed in 2.64, hence the bound in pyproject.toml) and offers no other for this.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            ds = ds.map_batches(AnalyzeBatch, fn_constructor_kwargs={
                "model": self.model, "face_model_bytes": [ray.put(self.face_bytes)],
                "min_score": self.min_score},
                batch_size=batch_size, num_cpus=1, max_restarts=0,
                compute=ray.data.ActorPoolStrategy(
                    size=min(workers, max(1, len(paths) // batch_size + 1))))
        count = 0
        try:
            for row in ds.iter_rows():
                write(json.loads(row["record"]))
                count += 1
        except ray.exceptions.RayError as exc:
            raise EmostyleError(f"the Ray job failed after {count} picture(s): "
                                f"{_first_line(exc)}") from None
        return count

    def close(self) -> None:
        if self.started_here:
            import ray

            ray.shutdown()


def start_ray(model: str = "default", face_model: str | Path | None = None,
              address: str = "local", num_cpus: int | None = None,
              min_score: float = DEFAULT_MIN_SCORE) -> RayRun:
    """Every check a Ray run needs, then Ray itself: call it before any output is opened.

    Raises :class:`EmostyleError` (one line) when Ray is not installed or the cluster does not
    answer, and :class:`ModelNotFoundError` when a model is missing. ``address`` is ``local``
    (start Ray here with ``num_cpus``), ``auto`` (join this machine's cluster) or a
    ``HOST:PORT`` / ``ray://HOST:PORT`` address.
    """
    try:
        import ray
    except ImportError:
        raise EmostyleError("--ray needs Ray: pip install 'emostyle[ray]'") from None
    from emostyle.faces import resolve_face_model
    from emostyle.pipeline import Analyzer

    face_path = resolve_face_model(face_model)
    Analyzer(model, face_path, min_score=min_score, threads=1)  # the models load here too
    if ray.is_initialized():
        return RayRun(str(model), face_path.read_bytes(), min_score, started_here=False)
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
    return RayRun(str(model), face_path.read_bytes(), min_score, started_here=True)


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
