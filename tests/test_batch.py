"""Folder runs: JSONL output, --resume, faces batched across pictures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.batch import analyze_stream, done_sources
from emostyle.cli import app
from emostyle.pipeline import Analyzer

from .conftest import EXAMPLE, tile_faces


@pytest.fixture(scope="module")
def analyzer(face_model):
    return Analyzer(face_model=face_model)


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(6):
        shutil.copy(EXAMPLE, d / f"p{i}.jpg")
    (d / "broken.jpg").write_text("not an image")
    return d


def test_many_equals_one_by_one(analyzer, astronaut, astronaut_face):
    images = [astronaut, tile_faces(astronaut_face, 3), np.full((200, 200, 3), 9, np.uint8)]
    together = analyzer.analyze_many(images)
    for image, batched in zip(images, together, strict=True):
        alone = analyzer.analyze(image)
        assert len(alone.faces) == len(batched.faces)
        for a, b in zip(alone.faces, batched.faces, strict=True):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
    assert [len(r.faces) for r in together] == [1, 3, 0]


def test_stream_keeps_order_and_reports_bad_files(analyzer, folder):
    files = sorted(folder.iterdir())
    items = list(analyze_stream(files, analyzer, workers=2, batch_images=4))
    assert [it.path for it in items] == files
    assert items[0].error and "not an image" in items[0].error  # broken.jpg sorts first
    assert all(it.analysis.faces[0].emotion == "happy" for it in items[1:])
    assert all(it.image is None for it in items)  # pixels are not kept


def test_output_and_resume(folder, tmp_path, face_model):
    out = tmp_path / "res.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(folder), "-o", str(out)])
    assert res.exit_code == 2  # broken.jpg
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 7 and sum("error" in x for x in lines) == 1
    # Simulate a run killed half-way: drop three lines and leave a half-written one. The kept
    # lines hold broken.jpg's failure: --resume tries it again, so it is not "done".
    kept = out.read_text().splitlines()[:4]
    assert "error" in json.loads(kept[0])
    out.write_text("\n".join(kept) + '\n{"source": "half')
    assert len(done_sources(out)) == 3
    assert out.read_text().endswith("\n")  # the broken tail is cut off
    assert "error" not in out.read_text()  # and the failure dropped
    res = runner.invoke(app, ["analyze", str(folder), "-o", str(out), "--resume"])
    # broken.jpg, p3, p4, p5 tried; the summary counts the three that worked
    assert "3 picture(s) analyzed" in res.output and "1 failed" in res.output
    assert "3 already there" in res.output
    sources = [json.loads(x)["source"] for x in out.read_text().splitlines()]
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())  # one line each


def test_summary_counts_successes_and_resume_retries_a_fixed_file(folder, tmp_path,
                                                                  face_model):
    out = tmp_path / "res.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(folder), "-o", str(out)])
    assert res.exit_code == 2
    assert "6 picture(s) analyzed" in res.output and "1 failed" in res.output
    shutil.copy(EXAMPLE, folder / "broken.jpg")  # the user fixes the file
    res = runner.invoke(app, ["analyze", str(folder), "-o", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert "1 picture(s) analyzed" in res.output and "6 already there" in res.output
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 7 and not [r for r in records if "error" in r]
    assert any(r["source"].endswith("broken.jpg") and r["faces"] for r in records)


def test_resume_needs_output(folder):
    res = CliRunner().invoke(app, ["analyze", str(folder), "--resume"])
    assert res.exit_code == 2 and "--resume needs --output" in res.output


def test_folder_run_holds_a_bounded_window_of_pictures(tmp_path, face_model, monkeypatch):
    """Memory stays flat: while `analyze FOLDER -o out.jsonl` writes its k-th line it has decoded
    at most a window of pictures ahead and holds at most a window of them alive, however many
    pictures the folder has (here 60; the window is a dozen or so)."""
    import gc
    import weakref

    from PIL import Image

    from emostyle import batch

    d = tmp_path / "many"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        Image.fromarray(rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)).save(d / f"{i}.png")
    alive: list[weakref.ref] = []
    real_read, real_write = batch.read_image, batch.JsonlWriter.write
    seen = []

    def read(path):  # noqa: ANN001, ANN202
        image = real_read(path)
        alive.append(weakref.ref(image))
        return image

    def write(self, rec):  # noqa: ANN001, ANN202
        gc.collect()
        seen.append((len(alive), sum(r() is not None for r in alive)))
        return real_write(self, rec)

    monkeypatch.setattr(batch, "read_image", read)
    monkeypatch.setattr(batch.JsonlWriter, "write", write)
    res = CliRunner().invoke(app, ["analyze", str(d), "-o", str(tmp_path / "out.jsonl")])
    assert res.exit_code == 0, res.output
    assert len(seen) == 60 and len(alive) == 60
    ahead = max(decoded - k for k, (decoded, _) in enumerate(seen, 1))
    held = max(live for _, live in seen)
    assert ahead <= 20 and held <= 20, (ahead, held)
