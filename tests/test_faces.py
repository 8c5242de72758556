import numpy as np
import pytest

from emostyle.errors import ModelNotFoundError
from emostyle.faces import (
    ENV_VAR,
    YUNET_FILE,
    DetectedFace,
    FaceDetector,
    crop_face,
    resolve_face_model,
    whole_image_face,
)

from .conftest import tile_faces


@pytest.fixture(scope="module")
def detector(face_model):
    return FaceDetector(face_model)


def test_finds_the_astronaut_face_with_landmarks(detector, astronaut):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    # The face sits around x 180-270, y 60-175 in the 512x512 photo.
    assert 160 < x < 200 and 40 < y < 90 and 70 < w < 120 and 90 < h < 140
    (rx, ry), (lx, ly) = faces[0].landmarks[:2]
    assert rx < lx and abs(ry - ly) < 10  # eyes level, right eye (viewer's left) first
    assert faces[0].score > 0.8


def test_several_faces(detector, astronaut_face):
    group = tile_faces(astronaut_face, 6)
    faces = detector.detect(group)
    assert len(faces) == 6
    centres = sorted((round(f.box[1] / 100), f.box[0]) for f in faces)
    assert len({round(c[1] / 50) for c in centres}) >= 4  # distinct columns


def test_boxes_map_back_to_original_pixels_on_big_pictures(detector, astronaut):
    small = detector.detect(astronaut)[0]
    big = np.kron(astronaut, np.ones((4, 4, 1), np.uint8))  # 2048 x 2048, detected at 960
    found = detector.detect(big)
    assert len(found) == 1
    np.testing.assert_allclose(found[0].box, np.array(small.box) * 4, rtol=0.08, atol=8)


def test_no_face_and_tiny_pictures(detector):
    assert detector.detect(np.full((240, 320, 3), 200, np.uint8)) == []
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_resolution_order(tmp_path, monkeypatch, face_model):
    explicit = tmp_path / "explicit.onnx"
    explicit.write_bytes(face_model.read_bytes())
    monkeypatch.setenv(ENV_VAR, str(face_model))
    assert resolve_face_model(explicit) == explicit  # argument beats the environment
    assert resolve_face_model() == face_model  # environment beats the cache
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "emostyle" / YUNET_FILE
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    assert resolve_face_model(download=False) == cached


def test_offline_without_a_model_names_every_option(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(ModelNotFoundError) as info:
        resolve_face_model()
    message = str(info.value)
    for option in ("--face-model", ENV_VAR, str(tmp_path / "emostyle"), "network unreachable"):
        assert option in message
    assert not list((tmp_path / "emostyle").glob("*.part"))


@pytest.mark.parametrize("case", ["astronaut", "group_of_6", "odd_size", "twelve_small"])
def test_same_faces_as_opencvs_yunet(detector, astronaut, astronaut_face, face_model, case):
    """YuNet runs on ONNX Runtime and is decoded here; OpenCV's own FaceDetectorYN on the same
    file is the reference: the same faces, boxes, landmarks and scores."""
    import cv2

    picture = {"astronaut": astronaut,
               "group_of_6": tile_faces(cv2.resize(astronaut_face, (140, 147)), 6),
               "odd_size": cv2.resize(astronaut, (301, 217)),
               "twelve_small": tile_faces(cv2.resize(astronaut_face, (40, 42)), 12)}[case]
    reference = cv2.FaceDetectorYN.create(str(face_model), "", picture.shape[1::-1],
                                          detector.min_score, detector.nms_threshold,
                                          detector.top_k)
    _, expected = reference.detect(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    got = detector._raw_faces(picture)
    assert expected is not None and len(got) == len(expected) >= 1
    order = np.argsort(-expected[:, 14])
    np.testing.assert_allclose(got[np.argsort(-got[:, 14])], expected[order], atol=1e-3)
    found = detector.detect(picture)  # the public call: the same faces, best first
    assert [round(f.score, 5) for f in found] == [round(float(v), 5)
                                                  for v in expected[order, 14]]


def test_a_model_that_is_not_yunet_is_refused_when_built(face_model):
    from emostyle.model_files import resolve_model

    emotion_model = resolve_model("default")
    with pytest.raises(ModelNotFoundError, match="not a usable YuNet model"):
        FaceDetector(emotion_model)


def test_missing_explicit_model_is_an_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        FaceDetector(tmp_path / "nope.onnx")


def test_aligned_crop_levels_the_eyes():
    # A picture with two bright "eyes" on a tilted line; the aligned crop must level them.
    img = np.zeros((200, 200, 3), np.uint8)
    img[95:105, 65:75] = 255
    img[115:125, 125:135] = 255  # 20 px lower: about 18 degrees of tilt
    face = DetectedFace((50.0, 50.0, 100.0, 100.0), ((70.0, 100.0), (130.0, 120.0)), 1.0)
    crop = crop_face(img, face, 48, margin=0.0, align=True, gray=True)
    rows = np.nonzero(crop > 128)[0]
    cols = np.nonzero(crop > 128)[1]
    left, right = rows[cols < 24], rows[cols >= 24]
    assert abs(left.mean() - right.mean()) < 1.5
    unaligned = crop_face(img, face, 48, margin=0.0, align=False, gray=True)
    r, c = np.nonzero(unaligned > 128)
    assert r[c >= 24].mean() - r[c < 24].mean() > 5


def test_whole_image_face_gives_back_the_picture():
    img = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    crop = crop_face(img, whole_image_face(img, 0.02), 48, margin=0.02, gray=False)
    assert np.abs(crop.astype(int) - img).mean() < 2


@pytest.mark.parametrize("tamper", [False, True])
def test_download_is_cached_only_when_its_sha256_matches(tmp_path, monkeypatch, face_model,
                                                         tamper):
    """A served copy of the real file is cached and used; one changed byte is refused and
    leaves nothing in the cache (the pin is checked against the bytes, not trusted)."""
    import io

    data = bytearray(face_model.read_bytes())
    if tamper:
        data[len(data) // 2] ^= 1
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout=None: io.BytesIO(data))
    cached = tmp_path / "emostyle" / YUNET_FILE
    if tamper:
        with pytest.raises(ModelNotFoundError, match="sha256"):
            resolve_face_model()
        assert not cached.exists() and not list(cached.parent.iterdir())
    else:
        assert resolve_face_model() == cached
        assert cached.read_bytes() == bytes(data)
