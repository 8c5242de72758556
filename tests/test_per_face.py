"""Each face painted in the style of its own emotion, in one pass (issue 15, item 2)."""

import json

import cv2
import numpy as np
import pytest

from emostyle.pipeline import StyleRequest, choose_style, paint
from emostyle.results import Analysis, Face
from emostyle.style_map import region_weights
from emostyle.stylizer import Stylizer

from .test_style_stylizer import build_tiny_model

HAPPY = (0.01, 0.01, 0.01, 0.93, 0.02, 0.01, 0.01)
FEAR = (0.02, 0.01, 0.9, 0.02, 0.02, 0.02, 0.01)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("per_face_model"))


@pytest.fixture(scope="module")
def stylizer(tiny_model):
    return Stylizer(tiny_model, styles_toml=False)


def two_faces(width: int = 480, height: int = 320) -> Analysis:
    """A happy face on the left, a frightened one on the right, the happy one bigger."""
    happy = Face((60, 40, 90, 90), (), 0.95, HAPPY)
    fear = Face((330, 60, 70, 70), (), 0.95, FEAR)
    return Analysis((happy, fear), width, height)


def test_each_face_region_gets_its_own_emotions_weights(stylizer):
    analysis = two_faces()
    choice = choose_style(analysis, StyleRequest("per_face"), stylizer)
    assert [style for _, style in choice.faces] == ["happy", "fear"]
    assert choice.style == "happy"  # the rest: the mood (the bigger face is happy)
    bg = stylizer.style_weights("happy")
    vecs = [stylizer.style_weights(s) for _, s in choice.faces]
    m = region_weights(320, 480, bg, list(zip([b for b, _ in choice.faces], vecs, strict=True)),
                       side=480)  # one map pixel per picture pixel here
    assert m.shape == (320, 480, stylizer.num_styles)
    assert np.allclose(m.sum(2), 1, atol=1e-5)
    fear, happy = stylizer.styles.index("fear"), stylizer.styles.index("happy")
    assert m[75, 365, fear] > 0.99  # the frightened face's centre
    assert m[85, 105, happy] > 0.99
    assert m[300, 240, happy] > 0.99  # far from both: the picture's mood
    assert m[200, 365, fear] > 0.9  # below the face: the person's body takes the face's style


def test_seams_are_smooth(stylizer):
    """No step in the weight map: the steepest change between neighbouring pixels is a small
    fraction of the face size (a Gaussian edge of a quarter face width), and the painted
    picture has no edge along the seam that it has not elsewhere."""
    choice = choose_style(two_faces(), StyleRequest("per_face"), stylizer)
    bg = stylizer.style_weights("happy")
    faces = [(b, stylizer.style_weights(s)) for b, s in choice.faces]
    m = region_weights(320, 480, bg, faces, side=480)
    fear = stylizer.styles.index("fear")
    step = max(np.abs(np.diff(m[:, :, fear], axis=0)).max(),
               np.abs(np.diff(m[:, :, fear], axis=1)).max())
    face_width = 70
    print(f"steepest weight step {step:.4f} per px (face width {face_width} px)")
    assert 0 < step < 2.0 / face_width  # a hard edge would be 1.0
    # The painted picture: gradients across the seam band are no larger than elsewhere.
    image = np.full((320, 480, 3), 128, np.uint8)
    cv2.randn(image, (128, 128, 128), (30, 30, 30))
    out = paint(stylizer, image, two_faces(), StyleRequest("per_face", max_side=None)).image
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.abs(np.diff(gray, axis=1))
    seam = (m[:, :-1, fear] > 0.2) & (m[:, :-1, fear] < 0.8)
    assert seam.sum() > 100
    print(f"mean |dx| on the seam {grad[seam].mean():.2f}, elsewhere {grad[~seam].mean():.2f}")
    assert grad[seam].mean() < 1.5 * grad[~seam].mean()


def test_one_pass_paints_each_face_closer_to_its_own_style(stylizer):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (320, 480, 3), dtype=np.uint8), (5, 5), 2)
    analysis = two_faces()
    painting = paint(stylizer, image, analysis, StyleRequest("per_face", max_side=None))
    assert painting.weight_map is not None and painting.choice.tag == "per-face"
    happy = stylizer.stylize(image, style="happy").astype(float)
    fear = stylizer.stylize(image, style="fear").astype(float)
    out = painting.image.astype(float)
    region = np.s_[60:110, 345:385]  # inside the frightened face
    assert np.abs(out[region] - fear[region]).mean() < 0.5 * np.abs(out[region] -
                                                                    happy[region]).mean()
    far = np.s_[260:320, 200:280]  # the rest: happy
    assert np.abs(out[far] - happy[far]).mean() < 0.5 * np.abs(out[far] - fear[far]).mean()


def test_per_face_painting_of_a_tiled_picture_matches_one_pass(tiny_model):
    """Tiling keeps working: the map is cut with the tiles and the tones agree."""
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (320, 480, 3), dtype=np.uint8), (5, 5), 2)
    whole = Stylizer(tiny_model, styles_toml=False)
    tiled = Stylizer(tiny_model, styles_toml=False, tile=240, stats_side=1024, max_pixels=0)
    req = StyleRequest("per_face", max_side=None)
    from emostyle.stylizer import tile_spans

    assert len(tile_spans(480, 240, tiled.overlap)) >= 2  # really cut into tiles
    a = paint(whole, image, two_faces(), req).image.astype(int)
    b = paint(tiled, image, two_faces(), req).image.astype(int)
    d = np.abs(a - b)
    print(f"tiled vs one pass: mean {d.mean():.2f}, max {d.max()}")
    assert d.mean() < 1.0 and d.max() <= 12


def test_uncertain_faces_keep_the_pictures_style(stylizer):
    tiny = Face((300, 60, 16, 16), (), 0.95, FEAR)  # too small to read
    analysis = Analysis((Face((60, 40, 90, 90), (), 0.95, HAPPY), tiny), 480, 320)
    choice = choose_style(analysis, StyleRequest("per_face"), stylizer)
    assert [s for _, s in choice.faces] == ["happy"]


def test_no_face_per_face_is_the_plain_fallback(stylizer):
    choice = choose_style(Analysis((), 480, 320), StyleRequest("per_face"), stylizer)
    assert choice.faces == () and choice.fallback


def test_a_constant_map_paints_exactly_the_plain_style(stylizer):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    flat = stylizer.stylize(image, style="fear")
    m = np.broadcast_to(stylizer.style_weights("fear"), (12, 16, stylizer.num_styles))
    assert np.abs(stylizer.stylize(image, weight_map=m).astype(int) - flat).max() <= 1


def test_bad_maps_are_refused(stylizer):
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(Exception, match="weight_map must be"):
        stylizer.stylize(image, weight_map=np.ones((8, 8, 2), np.float32))
    with pytest.raises(Exception, match="summing"):
        stylizer.stylize(image, weight_map=np.ones((8, 8, stylizer.num_styles), np.float32))


def test_bundled_model_paints_per_face(astronaut, face_model):
    bundled = Stylizer("styles", styles_toml=False)
    assert bundled.has_style_maps
    from emostyle.pipeline import Analyzer

    analysis = Analyzer().analyze(astronaut)
    p = paint(bundled, astronaut, analysis, StyleRequest("per_face", max_side=256))
    assert p.image.shape == astronaut.shape and p.choice.faces


def test_cli_per_face(tmp_path, astronaut, face_model):
    from typer.testing import CliRunner

    from emostyle.cli import app
    from emostyle.images import write_image

    src = tmp_path / "in.png"
    write_image(astronaut, src)
    res = CliRunner().invoke(app, ["stylize", str(src), "-o", str(tmp_path / "out"),
                                   "--per-face", "--max-side", "256", "--json"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)["results"][0]
    assert record["style"] == "per-face" and record["per_face"][0]["style"] == "happy"
    assert (tmp_path / "out" / "in_per-face.jpg").is_file()
    res = CliRunner().invoke(app, ["stylize", str(src), "--per-face", "--blend"])
    assert res.exit_code == 2 and "--per-face" in res.output


def test_cli_per_face_refuses_to_replace_an_earlier_painting(tmp_path, astronaut, face_model):
    from typer.testing import CliRunner

    from emostyle.cli import app
    from emostyle.images import write_image

    src = tmp_path / "in.png"
    write_image(astronaut, src)
    (tmp_path / "out").mkdir()
    earlier = tmp_path / "out" / "in_per-face.jpg"
    earlier.write_bytes(b"an earlier painting")
    res = CliRunner().invoke(app, ["stylize", str(src), "-o", str(tmp_path / "out"),
                                   "--per-face", "--max-side", "256"])
    assert res.exit_code == 2
    assert earlier.read_bytes() == b"an earlier painting"
