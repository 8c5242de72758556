"""The workbench commands take their options from the run configs: each option's default and
help are written once, on the config's field (emostyle.training.configs), and what is typed
reaches that field."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from emostyle.cli import app_for
from emostyle.cli_common import config_options
from emostyle.training.configs import (
    AddStyleConfig,
    StyleFitConfig,
    StyleNetConfig,
    TrainConfig,
    default_shape,
    option,
)

CONFIGS = {"train": TrainConfig, "train-style": StyleFitConfig, "add-style": AddStyleConfig}


def invoke(*args: str):
    return CliRunner().invoke(app_for(list(args)), list(args), terminal_width=200)


def offered(config: type) -> list[dataclasses.Field]:
    """The fields ``config`` gives its command as options, a nested config's included."""
    found = []
    for f in dataclasses.fields(config):
        if "nested" in f.metadata:
            found += offered(f.metadata["nested"])
        elif "help" in f.metadata:
            found.append(f)
    return found


@pytest.mark.parametrize("command", CONFIGS)
def test_every_config_option_is_offered_with_the_configs_default_and_help(command):
    config = CONFIGS[command]
    params = {p.name: p for p in
              typer.main.get_command(app_for([command])).commands[command].params}
    listed = invoke(command, "--help").output
    fields = offered(config)
    assert len(fields) >= 3
    for f in fields:
        meta = f.metadata
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        param = params[f.name]
        assert flag in param.opts and flag in listed, f.name
        assert (param.help or "") == meta["help"], f.name
        default = None if meta.get("path") else meta.get("option_default", f.default)
        assert param.default == default, f.name


# What each command offered when its options were written out by hand: a config field that
# loses its option, or an option that changes its name, is a change to the command line.
FLAGS = {
    "train": "--amp --arch --augment --balance --batch-size --budget-clock --data --device "
             "--epochs --img-size --in-chans --init --label-smoothing --labels --landmarks "
             "--list --lr --max-train --mix --no-amp --no-resume --optimizer --out --patience "
             "--resume --scheduler --seed --teacher --teacher-weight --threads --time-budget "
             "--warmup-epochs --weight-decay --width",
    "train-style": "--amp --batch --blocks --content-dir --content-weight --crop --device "
                   "--export --holdout --in-kernel --init --iterations --log-every --lr "
                   "--max-content --minutes --no-amp --no-resume --no-separable --out "
                   "--out-kernel --overwrite --resume --sample-every --seed --separable --single "
                   "--style --style-size --style-weight --threads --tv-weight --vgg --vgg-kind "
                   "--width",
    "add-style": "--content-dir --emotion --minutes --model --name --output --overwrite "
                 "--threads --vgg -o",
}


@pytest.mark.parametrize("command", FLAGS)
def test_the_workbench_commands_keep_their_options(command):
    params = typer.main.get_command(app_for([command])).commands[command].params
    flags = {o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
    assert flags == set(FLAGS[command].split())


@pytest.fixture
def train_runs(monkeypatch) -> list:
    pytest.importorskip("torch")
    from emostyle.training import fit

    runs = []

    def fake_run(cfg: TrainConfig, out: Path, resume: bool = False, command: str = "") -> dict:
        runs.append(cfg)
        return {"public_acc": 0.5, "epoch": 1}

    monkeypatch.setattr(fit, "train_run", fake_run)
    return runs


def test_train_options_reach_the_config(train_runs, tmp_path):
    """Untouched, every option gives the config's own default (no teacher: no teacher's
    share); typed ones land on their fields, renamed, nested and path options included."""
    out = str(tmp_path / "run")
    assert invoke("train", "--out", out).exit_code == 0
    assert train_runs[-1] == TrainConfig(data="fer2013.npz")
    res = invoke("train", "--out", out, "--data", "d.npz", "--epochs", "3", "--batch-size", "16",
                 "--time-budget", "1.5", "--teacher", "t.npy", "--width", "8", "--no-amp",
                 "--init", "run0", "--mix", "both", "--budget-clock", "cpu")
    assert res.exit_code == 0, res.output
    assert train_runs[-1] == TrainConfig(
        data="d.npz", epochs=3, batch_size=16, time_budget_min=1.5, teacher="t.npy",
        teacher_weight=0.7, arch_kwargs={"width": 8}, amp=False, init="run0", mix="both",
        budget_clock="cpu")


def test_train_style_options_reach_the_config(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from emostyle.training import style_fit

    made: list[StyleFitConfig] = []

    def fake_config(style, content_dir, vgg, vgg_kind="auto", init=None, **settings):
        made.append(StyleFitConfig(**settings))
        return made[-1]

    monkeypatch.setattr(style_fit, "new_run_config", fake_config)
    monkeypatch.setattr(style_fit, "train_styles", lambda cfg, out, resume=False: {
        "iterations": 1, "train_seconds": 1.0})
    out = str(tmp_path)
    assert invoke("train-style", "--out", out).exit_code == 0
    assert made[-1] == StyleFitConfig()
    res = invoke("train-style", "--out", out, "--batch", "2", "--width", "8", "--no-separable",
                 "--content-weight", "3", "--minutes", "1.5", "--log-every", "5")
    assert res.exit_code == 0, res.output
    assert made[-1] == StyleFitConfig(batch_size=2, content_weight=3.0, minutes=1.5, log_every=5,
                                      net={**default_shape(), "width": 8, "separable": False})


def test_add_style_options_reach_the_config(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from emostyle.training import add_style

    made: list[AddStyleConfig] = []
    monkeypatch.setattr(add_style, "add_style", lambda model, output, cfg, overwrite: made.append(
        cfg))
    monkeypatch.setattr(add_style, "summary_lines", lambda added, name, output: [])
    assert invoke("add-style", "p.jpg", "--name", "m", "-o", "m.onnx").exit_code == 0
    assert made[-1] == AddStyleConfig("p.jpg", "m", "content",
                                      "vgg16_imagenet_caffe_features_fp16.pth")
    res = invoke("add-style", "p.jpg", "--name", "m", "-o", "m.onnx", "--emotion", "fear",
                 "--minutes", "2", "--threads", "1")
    assert res.exit_code == 0, res.output
    assert made[-1] == AddStyleConfig("p.jpg", "m", "content",
                                      "vgg16_imagenet_caffe_features_fp16.pth", "fear",
                                      minutes=2.0, threads=1)


def test_a_style_runs_config_json_keeps_its_shape():
    """The network's shape is still the dict runs saved, and an old run's config loads."""
    assert StyleFitConfig().net == {"width": 16, "blocks": 3, "separable": True,
                                    "in_kernel": 9, "out_kernel": 3}
    old = json.loads(json.dumps(dataclasses.asdict(StyleFitConfig(
        styles=[["fear", "a.jpg"], ["calm", "b.jpg"]], net={
            "width": 8, "blocks": 1, "separable": False, "in_kernel": 9, "out_kernel": 3}))))
    assert StyleFitConfig.from_dict(old).net_config() == StyleNetConfig(2, 8, 1, False, 9, 3)


# --- config_options on a config of its own -----------------------------------------------

@dataclasses.dataclass(frozen=True)
class Shape:
    side: int = option(3, "Side.")
    hidden: int = 0


@dataclasses.dataclass
class Toy:
    steps: int = option(5, "Steps.")
    batch_size: int = option(4, flag="--batch")
    weights: str = option("", "Weights file.", path=True)
    share: float = option(0.0, "Share.", option_default=0.5)
    shape: dict = option(factory=lambda: {"side": 3}, nested=Shape)
    secret: int = 1


def toy_app(seen: dict) -> typer.Typer:
    @config_options(Toy)
    def toy(name: Annotated[str, typer.Argument()], *, settings: dict[str, Any],
            loud: bool = False) -> None:
        seen.update(name=name, settings=settings, loud=loud)

    built = typer.Typer(add_completion=False)
    built.command()(toy)
    return built


def test_config_options_offer_the_fields_where_settings_stands_and_give_them_back():
    seen: dict = {}
    runner = CliRunner()
    res = runner.invoke(toy_app(seen), ["x", "--steps", "7", "--batch", "2", "--weights", "w.pt",
                                        "--side", "5", "--loud"])
    assert res.exit_code == 0, res.output
    assert seen == {"name": "x", "loud": True, "settings": {
        "steps": 7, "batch_size": 2, "weights": "w.pt", "share": 0.5, "shape": {"side": 5}}}
    assert runner.invoke(toy_app(seen), ["y"]).exit_code == 0
    assert seen["settings"] == {"steps": 5, "batch_size": 4, "weights": "", "share": 0.5,
                                "shape": {"side": 3}}
    params = [p.name for p in typer.main.get_command(toy_app(seen)).params]
    assert params == ["name", "steps", "batch_size", "weights", "share", "side", "loud"]
    listed = runner.invoke(toy_app(seen), ["--help"], terminal_width=200).output
    assert "Weights file." in listed and "--batch" in listed and "--batch-size" not in listed
    assert "--secret" not in listed and "--hidden" not in listed


def test_an_option_given_by_the_command_and_its_config_is_refused():
    with pytest.raises(ValueError, match="steps"):
        @config_options(Toy)
        def twice(steps: int = 1, *, settings: dict[str, Any]) -> None:
            pass


def test_the_workbench_options_are_listed_without_torch():
    """`emostyle --help` builds every command, the workbench's from the run configs: none of
    it may import torch (the configs' module is torch-free)."""
    code = ("import sys, typer; from emostyle.cli import app; typer.main.get_command(app); "
            "from typer.testing import CliRunner; "
            "assert CliRunner().invoke(app, ['train-style', '--help']).exit_code == 0; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
