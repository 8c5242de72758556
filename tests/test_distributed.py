"""The folder job on a local Ray instance (ray.init(num_cpus=2)), as on a cluster."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.cli import app
from emostyle.pipeline import Analyzer

from .conftest import EXAMPLE

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'emostyle[ray]')")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (starting Ray costs several seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(5):
        shutil.copy(EXAMPLE, d / f"p{i}.jpg")
    (d / "zz_broken.jpg").write_bytes(b"")
    return d


def test_ray_matches_the_local_run(folder, tmp_path, face_model):
    from emostyle.distributed import analyze_on_ray

    records = []
    paths = sorted(folder.iterdir())
    n = analyze_on_ray(paths, records.append, face_model=face_model, batch_size=2)
    assert n == 6 and ray.is_initialized()  # a running instance is used, not shut down
    by_source = {r["source"]: r for r in records}
    assert "empty file" in by_source[str(folder / "zz_broken.jpg")]["error"]
    local = Analyzer(face_model=face_model).analyze(EXAMPLE)
    for p in paths[:5]:
        faces = by_source[str(p)]["faces"]
        assert len(faces) == 1
        np.testing.assert_allclose(list(faces[0]["probabilities"].values()),
                                   local.faces[0].probabilities, atol=1e-3)


def test_cli_ray_with_resume(folder, tmp_path, face_model):
    out = tmp_path / "res.jsonl"
    out.write_text(json.dumps({"source": str(folder / "p0.jpg"), "faces": []}) + "\n")
    res = CliRunner().invoke(app, ["analyze", str(folder), "-o", str(out), "--resume",
                                   "--ray", "local"])
    assert res.exit_code == 2, res.output  # the empty file
    assert "5 picture(s) analyzed on Ray" in res.output and "1 already there" in res.output
    sources = [json.loads(x)["source"] for x in out.read_text().splitlines()]
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())
