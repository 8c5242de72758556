"""Style training on tiny generated data: the loss goes down, runs resume, export works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from emostyle.cli import app  # noqa: E402
from emostyle.errors import EmostyleError, InputError  # noqa: E402
from emostyle.training.style_fit import (  # noqa: E402
    StyleFitConfig,
    load_style_run,
    parse_style_args,
    split_holdout,
    train_single_styles,
    train_styles,
)

from .test_style_vgg import random_state_dict  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Eight 'photos' (gradients with shapes), two 'paintings', a random VGG16 (torchvision
    kind, so no check on Caffe activation sizes applies)."""
    root = tmp_path_factory.mktemp("style_data")
    rng = np.random.default_rng(0)
    content = root / "content"
    content.mkdir()
    for i in range(8):
        y, x = np.mgrid[0:72, 0:96]
        img = np.stack([x * 2.5, y * 3.0, np.full_like(x, 40 * (i % 5))], -1).astype(np.uint8)
        cy, cx = rng.integers(10, 60), rng.integers(10, 80)
        img[max(0, cy - 8):cy + 8, max(0, cx - 8):cx + 8] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(content / f"photo{i}.jpg")
    stripes = np.zeros((96, 96, 3), np.uint8)
    stripes[:, ::8] = (230, 40, 30)
    stripes[:, 1::8] = (230, 40, 30)
    Image.fromarray(stripes).save(root / "stripes.png")
    checks = ((np.indices((96, 96)).sum(0) // 6) % 2 * 200).astype(np.uint8)
    Image.fromarray(np.stack([checks, checks // 2, 255 - checks], -1)).save(root / "checks.png")
    vgg = root / "vgg16_random.pth"
    torch.manual_seed(0)
    torch.save(random_state_dict(), vgg)
    return {"content": content, "styles": [["fear", str(root / "stripes.png")],
                                           ["calm", str(root / "checks.png")]], "vgg": vgg}


def tiny_config(data: dict, **kw) -> StyleFitConfig:
    base = dict(styles=data["styles"], content_dir=str(data["content"]), vgg=str(data["vgg"]),
                vgg_kind="torchvision", crop=48, batch_size=2, iterations=30, lr=1e-2,
                style_size=64, holdout=2, log_every=5, sample_every=15,
                net={"width": 8, "blocks": 1, "separable": True, "in_kernel": 9,
                     "out_kernel": 3}, threads=1, checkpoint_minutes=60)
    base.update(kw)
    return StyleFitConfig(**base)


def test_training_smoke_loss_goes_down(data, tmp_path):
    run = tmp_path / "run"
    metrics = train_styles(tiny_config(data), run)
    history = json.loads((run / "history.json").read_text())
    assert [h["iteration"] for h in history] == [5, 10, 15, 20, 25, 30]
    first, last = history[0]["total"], np.mean([h["total"] for h in history[-2:]])
    assert last < 0.7 * first, (first, last)
    assert {p.name for p in (run / "samples").iterdir()} == {"it000015.jpg", "it000030.jpg",
                                                             "final.jpg"}
    hold = metrics["holdout"]
    assert hold["photos"] == 2 and set(hold["per_style"]) == {"fear", "calm"}
    assert all(v["content"] > 0 and v["style"] > 0 for v in hold["per_style"].values())
    assert len((run / "holdout.txt").read_text().split()) == 2
    with pytest.raises(EmostyleError, match="--resume"):
        train_styles(tiny_config(data), run)


def test_resume_continues(data, tmp_path):
    run = tmp_path / "run"
    train_styles(tiny_config(data, iterations=10), run)
    state = torch.load(run / "last.pt", weights_only=False)
    state["config"]["iterations"] = 20  # as if the first run had been interrupted at 10
    torch.save(state, run / "last.pt")
    metrics = train_styles(StyleFitConfig(), run, resume=True)
    assert metrics["iterations"] == 20
    history = json.loads((run / "history.json").read_text())
    assert [h["iteration"] for h in history] == [5, 10, 15, 20]
    net, cfg, _ = load_style_run(run)
    assert cfg.iterations == 20 and net.cfg.num_styles == 2


def test_resume_restores_weights_and_optimiser(data, tmp_path, monkeypatch):
    """Interrupted after 5 of 10 iterations and resumed, a run ends with exactly the weights and
    Adam moments of a run that was never stopped."""
    from emostyle.training import style_fit

    cfg = tiny_config(data, iterations=10, sample_every=0, holdout=0)
    train_styles(cfg, tmp_path / "whole")
    real, calls = style_fit.ContentSampler.batch, []

    def interrupted(self, n):  # noqa: ANN001, ANN202
        calls.append(n)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(self, n)

    monkeypatch.setattr(style_fit.ContentSampler, "batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_styles(cfg, tmp_path / "stopped")
    assert torch.load(tmp_path / "stopped" / "last.pt", weights_only=False)["iteration"] == 5
    monkeypatch.setattr(style_fit.ContentSampler, "batch", real)
    train_styles(StyleFitConfig(), tmp_path / "stopped", resume=True)
    whole = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)
    resumed = torch.load(tmp_path / "stopped" / "last.pt", weights_only=False)
    assert resumed["iteration"] == whole["iteration"] == 10
    for k, v in whole["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    for a, b in zip(whole["optimizer"]["state"].values(), resumed["optimizer"]["state"].values(),
                    strict=True):
        assert a["step"] == b["step"] and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_single_style_recipe(data, tmp_path):
    results = train_single_styles(tiny_config(data, iterations=4, sample_every=0), tmp_path)
    assert set(results) == {"fear", "calm"}
    for name in ("fear", "calm"):
        net, cfg, _ = load_style_run(tmp_path / name)
        assert net.cfg.num_styles == 1 and cfg.styles[0][0] == name
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["single"] is True and set(doc["runs"]) == {"fear", "calm"}


def test_holdout_and_style_arguments(tmp_path):
    files = [Path(f"p{i}.jpg") for i in range(10)]
    train, held = split_holdout(files, 3, seed=0)
    assert len(held) == 3 and not set(train) & set(held) and len(train) == 7
    assert split_holdout(files, 3, seed=0) == (train, held)
    with pytest.raises(EmostyleError):
        split_holdout(files, 10, seed=0)
    painting = tmp_path / "p.png"
    painting.write_bytes(b"")
    assert parse_style_args([f"fear={painting}"]) == [["fear", str(painting)]]
    for bad, match in (("fear", "NAME=PAINTING"), (f"={painting}", "NAME=PAINTING"),
                       ("fear=/no/such.png", "not found")):
        with pytest.raises(InputError, match=match):
            parse_style_args([bad])
    with pytest.raises(InputError, match="twice"):
        parse_style_args([f"a={painting}", f"a={painting}"])


def test_cli_train_export_and_stylize(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["train-style", "--content-dir", str(data["content"]), "--vgg", str(data["vgg"]),
            "--vgg-kind", "torchvision", "--crop", "48", "--batch", "2", "--iterations", "6",
            "--holdout", "2", "--style-size", "64", "--width", "8", "--blocks", "1",
            "--sample-every", "0", "--threads", "1", "--out", "run", "--export", "m.onnx"]
    for name, painting in data["styles"]:
        args += ["--style", f"{name}={painting}"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "held-out content loss" in res.output and "parity" in res.output
    card = json.loads(Path("m.json").read_text())
    assert [s["name"] for s in card["styles"]] == ["fear", "calm"]
    assert card["training"]["iterations"] == 6 and card["training"]["crop"] == 48
    assert card["training"]["vgg_kind"] == "torchvision"
    assert "holdout" in card["metrics"] and card["training"]["command"].startswith("emostyle ")
    res = runner.invoke(app, ["export-style", "run", "-o", "again.onnx"])
    assert res.exit_code == 0, res.output

    # no export replaces a model or any of its companions unasked, checked before any work
    before = {p.name: p.read_bytes() for p in Path().glob("again*")}
    assert len(before) == 6  # three graphs, three cards
    res = runner.invoke(app, ["export-style", "run", "-o", "again.onnx"])
    assert res.exit_code == 2 and "6 files already exist" in res.output, res.output
    assert {p.name: p.read_bytes() for p in Path().glob("again*")} == before
    Path("lone_map.onnx").write_bytes(b"a user's file")
    res = runner.invoke(app, ["export-style", "run", "-o", "lone.onnx"])
    assert res.exit_code == 2 and "lone_map.onnx (-o) already exists" in res.output
    assert Path("lone_map.onnx").read_bytes() == b"a user's file"
    assert not Path("lone.onnx").exists()
    res = runner.invoke(app, ["export-style", "run", "-o", "again.onnx", "--overwrite"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*args[:-4], "--out", "run2", "--export", "m.onnx"])
    assert res.exit_code == 2 and "--export" in res.output, res.output
    assert not Path("run2").exists()  # refused before training started
    photo = data["content"] / "photo0.jpg"
    res = runner.invoke(app, ["stylize", str(photo), "--style-model", "m.onnx",
                              "--emotion", "calm", "-o", "out"])
    assert res.exit_code == 0, res.output
    assert Path("out/photo0_calm.jpg").is_file()


def test_cli_train_style_errors(data, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train-style", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "missing --style, --content-dir, --vgg" in res.output
    res = runner.invoke(app, ["train-style", "--style", "a=b.png", "--content-dir", "c",
                              "--vgg", str(tmp_path / "none.pth")])
    assert res.exit_code == 1 and "VGG16 weights not found" in res.output
    res = runner.invoke(app, ["train-style", "--resume", "--out", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "nothing to resume" in res.output
    assert "Traceback" not in res.output


def test_warm_start_from_exported_model(data, tmp_path):
    """--init starts a run from an exported model's weights (the CPU-hours behind the bundled
    model carry over); a model with other styles or another network is refused before
    training."""
    from emostyle.training.style_export import export_style_onnx, style_card, write_card
    from emostyle.training.style_weights import net_from_onnx

    train_styles(tiny_config(data, iterations=6, sample_every=0), tmp_path / "first")
    net, cfg, metrics = load_style_run(tmp_path / "first")
    model = tmp_path / "first.onnx"
    write_card(model, style_card("first", net, cfg, metrics, model, export_style_onnx(net, model)))
    exported = net_from_onnx(model).state_dict()

    started = tiny_config(data, iterations=1, lr=1e-12, sample_every=0, holdout=0,
                          init=str(model))
    train_styles(started, tmp_path / "second")
    second = torch.load(tmp_path / "second" / "last.pt", weights_only=False)["model"]
    for k, v in exported.items():
        assert torch.allclose(v.float(), second[k].float(), atol=1e-4), k
    fresh = tiny_config(data, iterations=1, lr=1e-12, sample_every=0, holdout=0)
    train_styles(fresh, tmp_path / "fresh")
    random_start = torch.load(tmp_path / "fresh" / "last.pt", weights_only=False)["model"]
    assert not all(torch.allclose(v.float(), random_start[k].float(), atol=1e-4)
                   for k, v in exported.items())

    swapped = tiny_config(data, styles=data["styles"][::-1], iterations=1, init=str(model))
    with pytest.raises(EmostyleError, match="same names, same order"):
        train_styles(swapped, tmp_path / "swapped")
    wider = tiny_config(data, iterations=1, init=str(model),
                        net={"width": 12, "blocks": 1, "separable": True, "in_kernel": 9,
                             "out_kernel": 3})
    with pytest.raises(EmostyleError, match="is not this run's"):
        train_styles(wider, tmp_path / "wider")
    res = CliRunner().invoke(app, ["train-style", "--init", str(tmp_path / "none.onnx"),
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--init" in res.output and "no such file" in res.output
