"""The folder jobs (analyze, stylize) on a local Ray instance (ray.init(num_cpus=2)), as on a
cluster."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.cli import app
from emostyle.pipeline import Analyzer

from .conftest import EXAMPLE
from .test_style_stylizer import tiny_model  # noqa: F401  (session fixture: a 4-style model)

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
    assert "4 picture(s) analyzed on Ray" in res.output and "1 already there" in res.output
    assert "1 failed" in res.output  # the summary counts what succeeded
    sources = [json.loads(x)["source"] for x in out.read_text().splitlines()]
    assert sorted(sources) == sorted(str(p) for p in folder.iterdir())


def records_by_source(path) -> dict[str, tuple]:
    """Source -> (rounded boxes, emotions) of a JSONL output, or its error."""
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["source"]] = rec.get("error") or tuple(
            (tuple(round(v) for v in f["box"]), f["emotion"]) for f in rec["faces"])
    return out


def test_cli_ray_honours_min_score_like_the_plain_run(folder, tmp_path, face_model):
    """--min-score reaches the workers: the astronaut's face (score 0.93) is kept at the
    default threshold and dropped at 0.95, with Ray exactly as without it."""
    runs = {}
    for score in ("0.95", "0.5"):
        for ray_args in ((), ("--ray", "local")):
            out = tmp_path / f"{score}{'_ray' if ray_args else ''}.jsonl"
            res = CliRunner().invoke(app, ["analyze", str(folder), "-o", str(out),
                                           "--min-score", score, *ray_args])
            assert res.exit_code == 2, res.output  # the empty file
            runs[score, bool(ray_args)] = records_by_source(out)
    assert runs["0.95", True] == runs["0.95", False]
    assert runs["0.5", True] == runs["0.5", False]
    assert all(v == () for k, v in runs["0.95", True].items() if not k.endswith("broken.jpg"))
    assert all(len(v) == 1 for k, v in runs["0.5", True].items() if not k.endswith("broken.jpg"))


def test_cli_ray_replaces_the_output_only_when_done(folder, tmp_path, face_model):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    res = CliRunner().invoke(app, ["analyze", str(folder), "-o", str(out), "--ray", "local"])
    assert res.exit_code == 2 and out.read_text() == "old\n"  # not replaced unless asked
    res = CliRunner().invoke(app, ["analyze", str(folder), "-o", str(out), "--ray", "local",
                                   "--overwrite"])
    assert res.exit_code == 2, res.output
    assert len(out.read_text().splitlines()) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "photos"]  # no .part


def test_cli_ray_run_prints_no_ray_chatter(folder, tmp_path, face_model):
    """A successful run in a fresh process says what it did and nothing else from Ray."""
    import os
    import subprocess
    import sys

    good = tmp_path / "good"
    good.mkdir()
    for p in sorted(folder.glob("p*.jpg"))[:2]:
        shutil.copy(p, good / p.name)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "emostyle", "analyze", str(good), "-o", str(out),
         "--ray", "local"], capture_output=True, text=True, timeout=300,
        env=os.environ | {"EMOSTYLE_FACE_MODEL": str(face_model)})
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in (proc.stdout + proc.stderr).splitlines() if x.strip()]
    assert lines == [f"2 picture(s) analyzed on Ray into {out}"], lines


# ------------------------------------------------------------------------ stylize --ray

@pytest.fixture()
def pictures(tmp_path, monkeypatch):
    """The astronaut, a mirrored one of the same name in a subfolder (its mood has a 1.6%
    neutral share, so a blend has two weights, and its file name needs the _2), a picture
    without a face and an empty file; no user styles.toml."""
    from PIL import Image

    monkeypatch.delenv("EMOSTYLE_STYLES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLE, d / "a.jpg")
    with Image.open(EXAMPLE) as im:
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(d / "sub" / "a.jpg", quality=95)
    Image.linear_gradient("L").resize((160, 120)).convert("RGB").save(d / "plain.jpg")
    (d / "zz_broken.jpg").write_bytes(b"")
    # happy is painted in the style no emotion has: a worker without this file paints it
    # in the happy style instead
    (tmp_path / "styles.toml").write_text('[emotions]\nhappy = "extra"\n')
    return d


def stylize_json(folder, out, *args):
    res = CliRunner().invoke(app, ["stylize", str(folder), "-o", str(out), "--json", *args])
    assert "Traceback" not in res.output
    assert res.exit_code == 2, res.output  # the empty file, in both runs
    doc = json.loads(res.stdout[res.stdout.index("{"):])
    for rec in doc["results"]:  # the same names in another folder
        rec["output"] = rec["output"].removeprefix(str(out))
    return doc


@pytest.mark.parametrize("options", [
    ("--blend", "--strength", "0.6", "--keep-colors", "--max-side", "256", "--styles", "{toml}"),
    ("--per-face", "--min-score", "0.95", "--fallback", "fear"),  # 0.95: no face is kept
    ("--emotion", "extra", "--max-side", "0"),  # no face model at all
], ids=["blend", "per-face-min-score", "emotion"])
def test_cli_stylize_on_ray_paints_what_the_plain_run_paints(pictures, tmp_path, face_model,
                                                             tiny_model, options):  # noqa: F811
    """Every option reaches the workers: the same files, byte for byte, the same names and
    the same records (styles, blend weights, fallbacks, errors) as without --ray."""
    args = ["--style-model", str(tiny_model),
            *(o.format(toml=tmp_path / "styles.toml") for o in options)]
    plain = stylize_json(pictures, tmp_path / "plain", *args)
    on_ray = stylize_json(pictures, tmp_path / "ray", *args, "--ray", "local")
    assert on_ray == plain
    names = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == names
    for name in names:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
    if "--blend" in options:
        weights = {r["source"]: r.get("weights") for r in on_ray["results"]}
        assert len(weights[str(pictures / "sub" / "a.jpg")]) == 2
        assert names == ["a_blend.jpg", "a_blend_2.jpg", "plain_neutral.jpg"]
    if "--per-face" in options:
        assert names == ["a_fear.jpg", "a_fear_2.jpg", "plain_fear.jpg"]


def test_cli_stylize_on_ray_never_replaces_the_users_files(pictures, tmp_path, face_model,
                                                           tiny_model):  # noqa: F811
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_fear.jpg").write_bytes(b"the user's picture")
    args = ["stylize", str(pictures), "-o", str(out), "-e", "fear", "--style-model",
            str(tiny_model), "--ray", "local"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "a_fear.jpg (-o) already exists (give --overwrite" in res.output
    assert "Traceback" not in res.output
    assert [p.name for p in out.iterdir()] == ["a_fear.jpg"]  # nothing else painted either
    assert (out / "a_fear.jpg").read_bytes() == b"the user's picture"
    res = CliRunner().invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 2, res.output  # the empty file
    assert sorted(p.name for p in out.iterdir()) == ["a_fear.jpg", "a_fear_2.jpg",
                                                     "plain_fear.jpg"]
    assert (out / "a_fear.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG now


def test_a_file_that_appears_during_the_ray_run_is_kept(pictures, tmp_path,
                                                        tiny_model):  # noqa: F811
    """The driver writes without replacing: a file made after the checks is the user's."""
    from emostyle.distributed import start_paint_ray
    from emostyle.pipeline import StyleRequest

    out = tmp_path / "out"
    out.mkdir()
    (out / "a_fear.jpg").write_bytes(b"made meanwhile")
    painter = start_paint_ray(StyleRequest("emotion", "fear"), tiny_model)
    items = list(painter.paint([pictures / "a.jpg", pictures / "plain.jpg"], out))
    assert items[0].record is None and items[1].error is None
    assert "already exists, not replaced" in (items[0].error or "")
    assert (out / "a_fear.jpg").read_bytes() == b"made meanwhile"
    assert sorted(p.name for p in out.iterdir()) == ["a_fear.jpg", "plain_fear.jpg"]  # no temp
