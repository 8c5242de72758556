"""emostyle add-style: one more painting for a trained model, the rest frozen (issue 15.3)."""

import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emostyle.cli import app  # noqa: E402
from emostyle.stylizer import Stylizer  # noqa: E402
from emostyle.training.add_style import AddStyleConfig, add_style  # noqa: E402
from emostyle.training.style_export import export_style_onnx, style_card, write_card  # noqa: E402
from emostyle.training.style_fit import load_style_run, train_styles  # noqa: E402

from .test_style_fit import data, tiny_config  # noqa: E402,F401  (the data fixture)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def source(data, tmp_path_factory):  # noqa: F811
    """A 2-style model trained briefly, exported with its three graphs and card."""
    run = tmp_path_factory.mktemp("src_run")
    cfg = tiny_config(data, iterations=20)
    metrics = train_styles(cfg, run)
    net, cfg, _ = load_style_run(run)
    folder = tmp_path_factory.mktemp("src_model")
    path = folder / "two.onnx"
    parity = export_style_onnx(net, path)
    write_card(path, style_card("two", net, cfg, metrics, path, parity))
    # A third painting beside the two the model was trained on (its styles' losses are
    # measured next to the new one's).
    paint_dir = tmp_path_factory.mktemp("paintings")
    for _, p in data["styles"]:
        Image.open(p).save(paint_dir / Image.open(p).filename.split("/")[-1])
    dots = np.full((96, 96, 3), 20, np.uint8)
    dots[4::12, 4::12] = (40, 220, 90)
    Image.fromarray(dots).save(paint_dir / "dots.png")
    return path, paint_dir / "dots.png"


def config(data, painting, **kw):  # noqa: F811
    base = dict(painting=str(painting), name="dots", content_dir=str(data["content"]),
                vgg=str(data["vgg"]), minutes=0, iterations=40, crop=48, style_size=64,
                eval_photos=2, threads=1, lr=2e-2)
    base.update(kw)
    return AddStyleConfig(**base)


def test_new_style_learns_while_the_old_ones_and_the_source_stay(source, data, tmp_path):  # noqa: F811
    src, painting = source
    before = digest(src.parent)
    out = tmp_path / "three.onnx"
    added = add_style(src, out, config(data, painting, emotion="fear"))
    assert digest(src.parent) == before  # the source model is never modified
    card = json.loads(out.with_suffix(".json").read_text())
    assert [s["name"] for s in card["styles"]] == ["fear", "calm", "dots"]
    assert card["emotion_styles"]["fear"] == "dots"  # --emotion moved fear to the new style
    h = added["heldout"]
    assert h["per_style"]["dots"]["style"] < 0.8 * h["new_style_before_training"]["style"]
    old, new = Stylizer(src, styles_toml=False), Stylizer(out, styles_toml=False)
    assert new.has_style_maps and {p.name for p in tmp_path.iterdir()} >= {
        "three.onnx", "three_tiling.onnx", "three_map.onnx"}
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    # The old styles are frozen: the new model paints them exactly like the source.
    a = old.stylize(image, weights={"calm": 1.0}).astype(int)
    b = new.stylize(image, weights={"calm": 1.0}).astype(int)
    assert np.abs(a - b).max() <= 1
    assert new.style_weights("fear").argmax() == 2  # fear is painted in the new style now
    assert np.abs(new.stylize(image, style="fear").astype(int) - a).mean() > 5


def test_refuses_to_touch_the_source_or_an_existing_file(source, data, tmp_path):  # noqa: F811
    src, painting = source
    with pytest.raises(Exception, match="source"):
        add_style(src, src, config(data, painting))
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"mine")
    with pytest.raises(Exception, match="exists"):
        add_style(src, taken, config(data, painting))
    assert taken.read_bytes() == b"mine"
    with pytest.raises(Exception, match="already"):
        add_style(src, tmp_path / "x.onnx", config(data, painting, name="calm"))


def test_cli_add_style_prints_the_losses(source, data, tmp_path):  # noqa: F811
    src, painting = source
    out = tmp_path / "cli.onnx"
    res = CliRunner().invoke(app, [
        "add-style", str(painting), "--name", "dots", "-o", str(out), "--model", str(src),
        "--content-dir", str(data["content"]), "--vgg", str(data["vgg"]), "--minutes", "0.05",
        "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "<- new" in res.output and "calm" in res.output and out.is_file()
    res = CliRunner().invoke(app, ["add-style", str(tmp_path / "missing.jpg"), "--name", "m",
                                   "-o", str(tmp_path / "m.onnx"), "--model", str(src),
                                   "--content-dir", str(data["content"]),
                                   "--vgg", str(data["vgg"])])
    assert res.exit_code == 2 and "not found" in res.output


def test_the_app_offers_an_added_style_by_name(source, data, tmp_path, monkeypatch):  # noqa: F811
    from emostyle.app import engine

    src, painting = source
    out = tmp_path / "four.onnx"
    add_style(src, out, config(data, painting, iterations=2))
    monkeypatch.setenv(engine.STYLE_MODEL_ENV, str(out))
    assert engine.style_model_name() == str(out)
    stylizer = engine.load_stylizer(engine.style_model_name())
    choices = engine.style_choices(stylizer)
    assert choices[:7] == list(engine.EMOTIONS) and "dots" in choices
    # the app paints the picked style through the one paint decision
    req = engine.StyleRequest("emotion", "dots", max_side=None)
    image = np.random.default_rng(3).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    choice = engine.choose_style(None, req, stylizer)
    painted = engine.paint(stylizer, image, choice, req)
    assert np.array_equal(painted, stylizer.stylize(image, style="dots"))
