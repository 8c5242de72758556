"""Every registered architecture builds, trains a step and exposes features for Grad-CAM."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from emostyle.errors import EmostyleError
from emostyle.training.architectures import available, create_model
from emostyle.training.landmarks import (
    NUM_POINTS,
    Landmarks,
    LandmarkSourceError,
    extract_landmarks,
    landmark_features,
    load_landmarks,
    make_source,
    save_landmarks,
)

ROOT = Path(__file__).resolve().parents[1]
VGG16_CAFFE = (Path(os.environ.get("EMOSTYLE_SHARED", ROOT.parent / "shared")) / "models"
               / "vgg16_imagenet_caffe_features_fp16.pth")

# Trainable parameters at the defaults (7 classes, 1 x 48 x 48). A change here is a change of
# architecture: update the number on purpose, and the model cards of trained models with it.
PARAMS = {
    "attention_cnn": 1_187_135,
    "baseline_cnn": 1_274_599,
    "deep_cnn": 14_304_071,
    "hybrid_transformer": 1_508_391,
    "landmark_mlp": 67_207,
    "multiscale": 940_599,
    "resnet18": 11_171_271,
    "resnet34": 21_279_431,
    "resnet50": 23_513_543,
    "specialists": 1_772_650,
    "vgg16": 14_725_575,
    "vgg_medium": 4_689_735,
    "vgg_small": 1_174_439,
    "vit_tiny": 5_371_015,
}
IMAGE_MODELS = [n for n in available() if n != "landmark_mlp"]


def param_id(name: str) -> str:
    n = PARAMS.get(name, 0)
    return f"{name}-{n / 1e6:.2f}M" if n >= 1e5 else f"{name}-{n / 1e3:.0f}k"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Batch-4 models gain nothing from threads, and a training job may share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def sample_input(model: torch.nn.Module, batch: int = 4) -> torch.Tensor:
    if getattr(model, "input_kind", "image") == "landmarks":
        model.fit_preprocessing(torch.randn(64, model.in_features))
        return torch.randn(batch, model.in_features)
    return torch.randn(batch, 1, 48, 48)


def test_registry_lists_every_seed_architecture() -> None:
    assert set(available()) == set(PARAMS), "add new architectures to PARAMS"


def test_unknown_architecture_names_the_choices() -> None:
    with pytest.raises(EmostyleError, match="available: .*resnet18"):
        create_model("resnet19")


@pytest.mark.parametrize("name", [pytest.param(n, id=param_id(n)) for n in available()])
def test_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).train()
    assert n_params(model) == PARAMS[name]
    x = sample_input(model)
    logits = model(x)
    assert logits.shape == (4, 7)
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_forward_is_head_of_features(name: str) -> None:
    """Grad-CAM needs the last map: forward(x) == forward_head(forward_features(x))."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.ndim == 4 and feats.shape[0] == 2 and min(feats.shape[2:]) >= 3
        assert feats.shape[1] == model.num_features
        torch.testing.assert_close(model(x), model.forward_head(feats))


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_other_input_sizes_and_rgb(name: str) -> None:
    model = create_model(name, in_chans=3, img_size=64, num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_channels_last_and_bf16_autocast_match_the_training_loop() -> None:
    """fit.py runs models channels_last under bf16 autocast; the custom blocks must too."""
    for name in ("multiscale", "specialists", "hybrid_transformer", "vit_tiny"):
        model = create_model(name).to(memory_format=torch.channels_last).train()
        x = torch.randn(2, 1, 48, 48).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        assert logits.shape == (2, 7) and torch.isfinite(logits.float()).all()


def test_specialist_weights_are_a_distribution_per_face() -> None:
    model = create_model("specialists").eval()
    with torch.no_grad():
        w = model.expert_weights(torch.randn(3, 1, 48, 48))
    assert w.shape == (3, 3)
    torch.testing.assert_close(w.sum(1), torch.ones(3))


def test_vit_rejects_a_size_that_is_not_a_patch_multiple() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        create_model("vit_tiny", img_size=50)


# --- landmark_mlp and its features ------------------------------------------------------------

def test_landmark_mlp_preprocessing_matches_scaler_and_pca() -> None:
    pytest.importorskip("sklearn")
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30)) @ rng.normal(size=(30, 30)) + rng.normal(size=30)
    model = create_model("landmark_mlp", in_features=30, n_components=5).eval()
    model.fit_preprocessing(x)
    ours = model.project(torch.as_tensor(x, dtype=torch.float32)).numpy()
    z = StandardScaler().fit_transform(x)
    ref = PCA(n_components=5, svd_solver="full").fit(z)
    expected = (z - ref.mean_) @ ref.components_.T
    # Same axes up to sign; our projection is not re-centred (z has zero mean already).
    np.testing.assert_allclose(np.abs(ours), np.abs(expected), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(model.explained_variance_ratio.numpy(),
                               ref.explained_variance_ratio_, rtol=1e-4)
    restored = create_model("landmark_mlp", in_features=30, n_components=5)
    restored.load_state_dict(model.state_dict())  # the fitted preprocessing travels with it
    assert bool(restored.fitted)


def test_landmark_mlp_refuses_to_train_unfitted_or_on_wrong_width() -> None:
    model = create_model("landmark_mlp").train()
    with pytest.raises(RuntimeError, match="fit_preprocessing"):
        model(torch.randn(4, 1404))
    model.fit_preprocessing(np.random.default_rng(0).normal(size=(50, 1404)))
    with pytest.raises(ValueError, match="1404"):
        model(torch.randn(4, 936))


def random_mesh(n: int, seed: int = 0) -> np.ndarray:
    pts = np.random.default_rng(seed).uniform(5, 43, size=(n, NUM_POINTS, 3)).astype(np.float32)
    pts[:, 33, :2] = (14, 20)  # outer eye corners level, as on an aligned face
    pts[:, 263, :2] = (34, 20)
    return pts


def test_landmark_features_ignore_position_size_and_roll() -> None:
    pts = random_mesh(2)
    angle = np.deg2rad(15)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = pts.copy()
    moved[..., :2] = (pts[..., :2] @ rot.T) * 1.7 + (30, -4)
    moved[..., 2] *= 1.7
    f = landmark_features(pts)
    assert f.shape == (2, NUM_POINTS * 3)
    np.testing.assert_allclose(landmark_features(moved), f, atol=1e-4)


def test_landmarks_extract_save_load_round_trip(tmp_path: Path) -> None:
    mesh = random_mesh(1)[0]

    def source(face: np.ndarray) -> np.ndarray | None:
        return mesh if face.mean() > 100 else None  # "finds" only the bright faces

    faces = [np.full((48, 48), v, np.uint8) for v in (200, 10, 150)]
    lm = extract_landmarks(faces, source)
    assert lm.found.tolist() == [True, False, True]
    assert np.isnan(lm.points[1]).all()
    save_landmarks(tmp_path / "lm.npz", {"train": lm, "public": Landmarks(lm.points[:1],
                                                                           lm.found[:1])}, "fake")
    back = load_landmarks(tmp_path / "lm.npz")
    assert set(back) == {"train", "public"}
    np.testing.assert_array_equal(back["train"].points, lm.points)
    assert [p.name for p in tmp_path.iterdir()] == ["lm.npz"]  # no temp file left behind


def test_missing_mediapipe_names_the_conflict() -> None:
    try:
        import mediapipe  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("mediapipe is installed here")
    with pytest.raises(LandmarkSourceError, match="numpy<2.*separate environment"):
        make_source("mediapipe")
    with pytest.raises(LandmarkSourceError, match="available: mediapipe"):
        make_source("dlib")


# --- VGG16 from the Caffe ImageNet weights ------------------------------------------------------

@pytest.mark.slow
def test_vgg16_caffe_weights_see_caffe_scaled_input() -> None:
    """Folding the input scaling into conv1 reproduces Caffe VGG16 on BGR 0-255 minus mean."""
    if not VGG16_CAFFE.is_file():
        pytest.skip(f"Caffe VGG16 weights not available at {VGG16_CAFFE}")
    import torchvision

    model = create_model("vgg16", pretrained_path=VGG16_CAFFE).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    ref = torchvision.models.vgg16().features[:2].eval()
    state = torch.load(VGG16_CAFFE, weights_only=True)
    ref[0].load_state_dict({"weight": state["features.0.weight"].float(),
                            "bias": state["features.0.bias"].float()})
    gray = torch.randint(0, 256, (2, 1, 48, 48)).float()
    caffe = gray.expand(-1, 3, -1, -1) - torch.tensor([103.939, 116.779, 123.68])[:, None, None]
    ours = (gray / 255 - 0.5077) / 0.2550
    with torch.no_grad():
        a, b = model.features[:2](ours), ref(caffe)
    # Exact except on the zero-padded one-pixel border.
    torch.testing.assert_close(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-2)


def test_vgg16_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmostyleError, match="not found"):
        create_model("vgg16", pretrained_path=tmp_path / "nope.pth")
