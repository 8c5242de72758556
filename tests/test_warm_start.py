"""``emostyle train --init``: a run starts from a checkpoint's or an exported model's weights."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

from emostyle.cli import app  # noqa: E402
from emostyle.errors import EmostyleError  # noqa: E402
from emostyle.training.architectures import create_model  # noqa: E402
from emostyle.training.datasets import Splits  # noqa: E402
from emostyle.training.export import export_run  # noqa: E402
from emostyle.training.fit import TrainConfig, normalise, to_input, train  # noqa: E402
from emostyle.training.warm_start import init_weights  # noqa: E402

from .test_training import synthetic_faces  # noqa: E402

ARCH = {"width": 8}


@pytest.fixture(scope="module")
def splits() -> Splits:
    return Splits(synthetic_faces(600, 0), synthetic_faces(200, 1), synthetic_faces(140, 2))


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, splits) -> Path:
    out = tmp_path_factory.mktemp("source")
    cfg = TrainConfig(arch="vgg_small", arch_kwargs=ARCH, epochs=4, batch_size=32, lr=0.05,
                      augment="light", threads=2)
    best = train(cfg, splits, out)
    assert best["public_acc"] > 0.6  # the source must have learnt something to carry over
    return out


@pytest.fixture(scope="module")
def source_onnx(source_run, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "source.onnx"
    export_run(source_run, path)
    return path


def inputs(splits: Splits, n: int = 64) -> torch.Tensor:
    cfg = TrainConfig()
    return normalise(to_input(splits.public.images[:n], cfg), cfg)


def test_onnx_weights_with_folded_batchnorm_come_back_exactly(source_onnx, splits):
    model = create_model("vgg_small", **ARCH)
    init_weights(model, source_onnx, inputs(splits, 256))
    x = inputs(splits)
    with torch.no_grad():
        got = model.eval()(x).numpy()
    sess = ort.InferenceSession(str(source_onnx), providers=["CPUExecutionProvider"])
    want = sess.run(["logits"], {"input": x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_int8_weights_come_back_as_the_values_the_graph_dequantises(source_run, source_onnx,
                                                                    splits, tmp_path):
    """An int8 export (the default is one) is an --init source too: each layer gets
    (q - zero point) * scale, so the network computes the float32 model up to rounding."""
    import onnx
    from onnx import numpy_helper

    from emostyle.training.quantize import quantize_classifier
    from emostyle.training.warm_start import onnx_layer_weights

    shutil.copy(source_onnx.with_suffix(".json"), tmp_path / "f.json")
    shutil.copy(source_onnx, tmp_path / "f.onnx")
    int8 = tmp_path / "q.onnx"
    quantize_classifier(tmp_path / "f.onnx", int8, splits.train.images[:128])
    fp32_layers, int8_layers = onnx_layer_weights(source_onnx), onnx_layer_weights(int8)
    assert [op for op, _, _ in int8_layers] == [op for op, _, _ in fp32_layers]
    for (_, w32, _), (_, w8, _) in zip(fp32_layers, int8_layers, strict=True):
        assert w8.shape == w32.shape and not np.array_equal(w8, w32)
        step = np.abs(w32).reshape(len(w32), -1).max(1) / 63  # 7-bit weights, per channel
        assert (np.abs(w8 - w32).reshape(len(w32), -1).max(1) <= step * 0.51 + 1e-7).all()
    graph = onnx.load(str(int8)).graph
    ints = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type ==
            onnx.TensorProto.INT8]
    assert ints  # the weights read back really were stored as integers
    model = create_model("vgg_small", **ARCH)
    init_weights(model, int8, inputs(splits, 256))
    x = inputs(splits)
    with torch.no_grad():
        got = model.eval()(x).numpy()
    want = ort.InferenceSession(str(source_onnx), providers=["CPUExecutionProvider"]).run(
        ["logits"], {"input": x.numpy()})[0]
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95


def test_a_checkpoint_is_loaded_as_is(source_run):
    model = create_model("vgg_small", **ARCH)
    init_weights(model, source_run, torch.zeros(1))
    saved = torch.load(source_run / "best.pt", weights_only=False)["model"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved[name]), name


def first_epoch_accuracy(init: str, splits: Splits, out: Path) -> float:
    cfg = TrainConfig(arch="vgg_small", arch_kwargs=ARCH, epochs=1, batch_size=32, lr=1e-4,
                      warmup_epochs=0, augment="none", max_train=64, threads=2, init=init)
    train(cfg, splits, out)
    return json.loads((out / "history.json").read_text())[0]["public_acc"]


def test_a_run_from_an_exported_model_starts_where_it_left_off(source_run, source_onnx, splits,
                                                               tmp_path):
    source_acc = torch.load(source_run / "best.pt", weights_only=False)["best"]["public_acc"]
    warm = first_epoch_accuracy(str(source_onnx), splits, tmp_path / "warm")
    cold = first_epoch_accuracy("", splits, tmp_path / "cold")
    assert warm > source_acc - 0.08
    assert cold < 0.4
    assert json.loads((tmp_path / "warm" / "config.json").read_text())["init"] == str(source_onnx)


def test_init_sources_that_do_not_fit_are_refused_before_training(source_onnx, source_run,
                                                                  splits, tmp_path):
    wide = TrainConfig(arch="vgg_small", arch_kwargs={"width": 16}, epochs=1, threads=2,
                       init=str(source_onnx))
    with pytest.raises(EmostyleError, match="--width"):
        train(wide, splits, tmp_path / "wide")
    with pytest.raises(EmostyleError, match="same --arch"):
        train(TrainConfig(arch="baseline_cnn", epochs=1, init=str(source_run)), splits,
              tmp_path / "other")
    cardless = tmp_path / "cardless.onnx"
    shutil.copy(source_onnx, cardless)
    with pytest.raises(EmostyleError, match="card"):
        train(TrainConfig(arch="vgg_small", arch_kwargs=ARCH, epochs=1, init=str(cardless)),
              splits, tmp_path / "cardless")
    assert not (tmp_path / "wide" / "history.json").exists()


def test_cli_init_errors_are_one_line(tmp_path, source_onnx):
    res = CliRunner().invoke(app, ["train", "--init", str(tmp_path / "nothing.onnx"),
                                   "--data", str(tmp_path / "x.npz"), "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "--init" in res.output and "no such file" in res.output
    res = CliRunner().invoke(app, ["train", "--init", str(source_onnx), "--resume",
                                   "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--resume" in res.output
