"""The VGG16 loss network: the preprocessing must match the weights.

The shared weights are the original Caffe VGG16 (BGR, 0-255, minus the mean pixel). Scale-free
checks - how a photo's features compare with a shifted copy's, the fraction of active units -
barely move when the input is wrongly preprocessed, because VGG's convolutions and ReLUs are
nearly scale-equivariant (the biases are small); ``test_scale_free_checks_cannot_tell`` shows it.
What a wrong preprocessing changes is the scale of every feature (~40x with torchvision's
normalisation), which moves Gram (scale^4) against content (scale^2) by ~40^2: the loss weights
tuned for the right scale then train a network that barely stylises. The tests check exactly that.
"""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emostyle.errors import EmostyleError  # noqa: E402
from emostyle.images import read_image  # noqa: E402
from emostyle.training.vgg_loss import (  # noqa: E402
    CAFFE_MEAN_BGR,
    DEFAULT_WEIGHTS,
    PerceptualLoss,
    VGGFeatures,
    activation_scale,
    check_preprocessing,
    gram,
    guess_kind,
    load_vgg,
)

from .conftest import SHARED  # noqa: E402

CAFFE_VGG = SHARED / "models" / "vgg16_imagenet_caffe_features_fp16.pth"
CONTENT = SHARED / "data" / "content"
PAINTING = SHARED / "data" / "styles" / "vangogh_starry_night_1889.jpg"


def random_state_dict(dtype=torch.float32, classifier: bool = False) -> dict:
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512):
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(cin, v, 3, padding=1), torch.nn.ReLU()]
            cin = v
    sd = {f"features.{k}": v.to(dtype) for k, v in torch.nn.Sequential(*layers).state_dict()
          .items()}
    if classifier:
        sd["classifier.0.weight"] = torch.zeros(1)
    return sd


def test_preprocess_channel_order_and_scale():
    sd = random_state_dict()
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 255.0
    caffe = VGGFeatures(sd, "caffe").preprocess(red)
    assert torch.allclose(caffe[0, :, 0, 0], torch.tensor(
        [-CAFFE_MEAN_BGR[0], -CAFFE_MEAN_BGR[1], 255 - CAFFE_MEAN_BGR[2]]))
    tv = VGGFeatures(sd, "torchvision").preprocess(red)
    assert torch.allclose(tv[0, :, 0, 0], torch.tensor(
        [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225]), atol=1e-5)


def test_kind_is_guessed_and_contradictions_refused(tmp_path):
    assert guess_kind(random_state_dict(torch.float16)) == "caffe"
    assert guess_kind(random_state_dict(classifier=True)) == "torchvision"
    assert guess_kind(random_state_dict()) is None
    path = tmp_path / "vgg16_fp32.pth"
    torch.save(random_state_dict(), path)
    with pytest.raises(EmostyleError, match="--vgg-kind"):
        load_vgg(path)
    assert load_vgg(path, "torchvision").kind == "torchvision"
    half = tmp_path / "vgg16_half.pth"
    torch.save(random_state_dict(torch.float16), half)
    with pytest.raises(EmostyleError, match="look like caffe"):
        load_vgg(half, "torchvision")
    with pytest.raises(EmostyleError, match="not found"):
        load_vgg(tmp_path / "missing.pth")


def test_gram_normalisation():
    x = torch.ones(2, 4, 3, 5)
    g = gram(x)
    assert g.shape == (2, 4, 4) and torch.allclose(g, torch.full((2, 4, 4), 1 / 4))


# --- with the real Caffe weights and photos (skipped without ../shared) ------------------------

@pytest.fixture(scope="module")
def caffe_sd():
    if not CAFFE_VGG.is_file():
        pytest.skip(f"Caffe VGG16 weights not available at {CAFFE_VGG}")
    return torch.load(CAFFE_VGG, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def photos():
    files = sorted(CONTENT.glob("*.jpg"))[::200][:6] if CONTENT.is_dir() else []
    if len(files) < 4:
        pytest.skip(f"content photos not available in {CONTENT}")
    out = []
    for f in files:
        img = read_image(f)
        h, w = img.shape[:2]
        y, x = (h - 160) // 2, (w - 160) // 2
        out.append(torch.from_numpy(np.ascontiguousarray(
            img[y:y + 160, x:x + 160].transpose(2, 0, 1))).float())
    return torch.stack(out)


def test_shared_file_is_caffe(caffe_sd):
    assert guess_kind(caffe_sd, CAFFE_VGG) == "caffe"
    assert load_vgg(CAFFE_VGG).kind == "caffe"


def test_feature_scale_tells_right_from_wrong(caffe_sd, photos):
    right, wrong = VGGFeatures(caffe_sd, "caffe"), VGGFeatures(caffe_sd, "torchvision")
    s_right, s_wrong = activation_scale(right, photos), activation_scale(wrong, photos)
    for layer in s_right:  # measured: ~35x at every layer
        assert s_right[layer] > 15 * s_wrong[layer], (layer, s_right, s_wrong)
    check_preprocessing(right, photos)  # passes
    wrong.kind = "caffe"  # the mistake DATA.md warns about: Caffe weights, torchvision input
    with pytest.raises(EmostyleError, match="torchvision weights"):
        check_preprocessing(wrong, photos)


def test_loss_balance_only_holds_with_the_right_preprocessing(caffe_sd, photos):
    """With the Caffe loss weights, style and content pull with comparable force (style ahead,
    as in Johnson et al.) only under Caffe preprocessing; torchvision's makes style ~1000x
    weaker relative to content, and the trained network would barely stylise."""
    if not PAINTING.is_file():
        pytest.skip("paintings not available")
    painting = torch.from_numpy(np.ascontiguousarray(
        read_image(PAINTING)[::4, ::4].transpose(2, 0, 1))).float()
    blurred = torch.nn.functional.avg_pool2d(photos, 5, 1, 2)
    idx = torch.zeros(len(photos), dtype=torch.long)
    w = DEFAULT_WEIGHTS["caffe"]
    ratios = {}
    for kind in ("caffe", "torchvision"):
        loss = PerceptualLoss(VGGFeatures(caffe_sd, kind), [painting], w["content"], w["style"])
        with torch.no_grad():
            parts = loss(blurred, photos, idx)
        ratios[kind] = float(parts["style"] / parts["content"])
    assert 10 < ratios["caffe"] < 1e4, ratios
    assert ratios["caffe"] > 300 * ratios["torchvision"], ratios


def test_scale_free_checks_cannot_tell(caffe_sd, photos):
    """Why the checks above are about scale: Gram similarity of a photo to its 4-px shifted
    copy, relative to another photo, is about the same under both preprocessings."""
    small = photos[:4, :, :100, :100]

    def separation(vgg):
        def desc(x):
            g = gram(vgg(x).relu4_3).flatten(1)
            return g / g.norm(dim=1, keepdim=True)
        a, a_shift = desc(small[:, :, :-4, :-4]), desc(small[:, :, 4:, 4:])
        other = a.roll(1, dims=0)
        vals = (a - other).norm(dim=1) / (a - a_shift).norm(dim=1)
        return float(vals.median())

    with torch.no_grad():
        right = separation(VGGFeatures(caffe_sd, "caffe"))
        wrong = separation(VGGFeatures(caffe_sd, "torchvision"))
    assert abs(right - wrong) < 0.25 * right, (right, wrong)


def test_loader_accepts_a_path_object(caffe_sd):
    assert isinstance(load_vgg(Path(CAFFE_VGG), "caffe"), VGGFeatures)
