"""The folder job on a Ray cluster: Ray Data ``map_batches`` over the ONNX models.

Each Ray worker builds one :class:`~emostyle.pipeline.Analyzer` (one ONNX Runtime thread, so a
node runs as many workers as it has CPUs) and analyzes batches of file paths. Results stream
back to the driver, which writes the same JSON lines as ``emostyle analyze --output``.

On a real cluster every node needs emostyle installed and read access to the pictures (a shared
or object-store-mounted file system). The YuNet face model is shipped from the driver through
the object store, so nodes need no copy of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emostyle.detection import DEFAULT_MIN_SCORE
from emostyle.errors import EmostyleError, InputError


class AnalyzeBatch:
    """Ray Data callable class: a batch of paths in, a batch of JSON records out."""

    def __init__(self, model: str, face_model_bytes: bytes | None,
                 min_score: float = DEFAULT_MIN_SCORE) -> None:
        import hashlib
        import os

        from emostyle.model_files import cache_dir
        from emostyle.pipeline import Analyzer

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


def analyze_on_ray(paths: list[Path], write: Callable[[dict], None], model: str = "default",
                   face_model: str | Path | None = None, address: str = "local",
                   num_cpus: int | None = None, batch_size: int = 16,
                   min_score: float = DEFAULT_MIN_SCORE) -> int:
    """Analyze ``paths`` on Ray and pass each record to ``write``; returns the record count.

    ``address`` is ``local`` (start a Ray instance on this machine with ``num_cpus``), ``auto``
    (join the cluster this machine belongs to) or a ``ray://host:port`` client address.
    """
    try:
        import ray
    except ImportError:
        raise EmostyleError("--ray needs Ray: pip install 'emostyle[ray]'") from None
    from emostyle.faces import resolve_face_model

    face_bytes = resolve_face_model(face_model).read_bytes()
    started_here = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False}
        if address == "local":
            ray.init(num_cpus=num_cpus, **kwargs)
        else:
            ray.init(address=address, **kwargs)
        started_here = True
    try:
        workers = max(1, int(ray.available_resources().get("CPU", 1)))
        ds = ray.data.from_items([{"path": str(p)} for p in paths])
        ds = ds.map_batches(AnalyzeBatch, fn_constructor_kwargs={
            "model": model, "face_model_bytes": face_bytes, "min_score": min_score},
            batch_size=batch_size,
            concurrency=min(workers, max(1, len(paths) // batch_size + 1)), num_cpus=1)
        count = 0
        for row in ds.iter_rows():
            write(json.loads(row["record"]))
            count += 1
        return count
    finally:
        if started_here:
            ray.shutdown()
