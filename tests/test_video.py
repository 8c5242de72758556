"""Video command and tracking on generated videos."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emostyle.cli import app
from emostyle.results import Face
from emostyle.tracking import FaceTracker, iou


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10, fourcc: str = "mp4v"
                ) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def moving_face_frames(astronaut: np.ndarray, n: int = 20) -> list[np.ndarray]:
    head = cv2.resize(astronaut[20:260, 110:340], (200, 210))
    frames = []
    for i in range(n):
        canvas = np.full((360, 480, 3), 110, np.uint8)
        x = 40 + 6 * i
        canvas[60:270, x:x + 200] = head
        frames.append(canvas)
    return frames


def run(*args: str):
    return CliRunner().invoke(app, ["video", *args])


def test_video_overlay_log_and_plot(tmp_path, astronaut, face_model):
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut))
    out = tmp_path / "out" / "result.mp4"
    res = run(str(src), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames"] == 20 and report["analyzed_frames"] == 20
    assert report["tracks"] == 1  # one face moving smoothly stays one track
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert len(rows) == 20 and {r["track"] for r in rows} == {"1"}
    assert sum(r["emotion"] == "happy" for r in rows) >= 18
    assert out.with_suffix(".png").stat().st_size > 5000
    assert not list(out.parent.glob(".*"))  # no temp files left


def test_every_n_frames_and_jsonl_log(tmp_path, astronaut, face_model):
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 12))
    log = tmp_path / "log.jsonl"
    res = run(str(src), "--log", str(log), "--every", "3", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["analyzed_frames"] == 4
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in lines] == [0, 3, 6, 9]
    assert [r["uncertain"] for r in lines] == [False] * 4  # a 200-px face is readable


def test_video_log_marks_tiny_faces_uncertain(tmp_path, astronaut, face_model):
    small = cv2.resize(astronaut, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    frames = []
    for _ in range(4):
        canvas = np.full((240, 320, 3), 120, np.uint8)
        canvas[:small.shape[0], :small.shape[1]] = small
        frames.append(canvas)
    src = write_video(tmp_path / "tiny.mp4", frames)
    log = tmp_path / "log.jsonl"
    res = run(str(src), "--log", str(log), "--json")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and all(r["uncertain"] for r in lines)


def test_video_without_faces(tmp_path, face_model):
    frames = [np.full((240, 320, 3), 40 + 5 * i, np.uint8) for i in range(8)]
    src = write_video(tmp_path / "empty.mp4", frames)
    res = run(str(src), "-o", str(tmp_path / "o.mp4"), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["tracks"] == 0


def test_corrupt_frame_in_the_middle_is_skipped_and_reported(tmp_path, face_model):
    frames = [np.full((120, 160, 3), 8 * i, np.uint8) for i in range(20)]
    src = write_video(tmp_path / "mj.avi", frames, fourcc="MJPG")
    data = bytearray(src.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[starts[10]:starts[11]] = bytes(starts[11] - starts[10])  # wipe frame 10 whole
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    res = run(str(bad), "-o", str(tmp_path / "o.mp4"), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["skipped_frames"] == [10]
    assert report["container_frames"] == 20
    assert 17 <= report["frames"] <= 19  # OpenCV's demuxer may lose a neighbour too


@pytest.mark.parametrize("content,reason", [(b"", "empty file"),
                                            (b"not a video at all" * 10, "not a readable video")])
def test_unreadable_videos(tmp_path, content, reason, face_model):
    src = tmp_path / "x.mp4"
    src.write_bytes(content)
    res = run(str(src), "-o", str(tmp_path / "o.mp4"))
    assert res.exit_code == 2
    assert reason in res.output and str(src) in res.output
    assert not (tmp_path / "o.mp4").exists()


def test_unwritable_output_and_bad_arguments(tmp_path, astronaut, face_model):
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 3))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    res = run(str(src), "-o", str(blocker / "out.mp4"))
    assert res.exit_code == 2 and "cannot create a folder under" in res.output
    assert run(str(src), "-o", str(src)).exit_code == 2  # never overwrite the input
    assert "either a video file or --camera" in run("-o", str(tmp_path / "o.mp4")).output
    assert run(str(src), "-o", str(tmp_path / "o.gif")).exit_code == 2


def test_audio_track_is_kept_when_ffmpeg_exists(tmp_path, face_model):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    src = tmp_path / "with_audio.mp4"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=10:duration=1", "-c:v", "mpeg4", "-c:a", "aac",
                    "-shortest", str(src)], check=True)
    out = tmp_path / "o.mp4"
    res = run(str(src), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["audio_copied"] is True
    probe = subprocess.run([exe, "-i", str(out)], capture_output=True, text=True).stderr
    assert "Audio:" in probe


def face(x: float, probs: list[float]) -> Face:
    return Face((x, 10.0, 50.0, 50.0), (), 0.9, tuple(probs))


def test_tracker_smooths_and_keeps_identities():
    happy = [0, 0, 0, 1.0, 0, 0, 0]
    sad = [0, 0, 0, 0, 1.0, 0, 0]
    tracker = FaceTracker(alpha=0.5)
    a, b = tracker.update([face(0, happy), face(200, happy)], 0)
    assert (a.track_id, b.track_id) == (1, 2)
    tracks = tracker.update([face(210, sad), face(5, happy)], 1)  # order swapped, moved
    assert [t.track_id for t in tracks] == [2, 1]
    smoothed = FaceTracker.smoothed_face(tracks[0])
    assert smoothed.probabilities[3] == pytest.approx(0.5)  # one sad frame does not flip it
    assert smoothed.probabilities[4] == pytest.approx(0.5)
    for frame in range(2, 14):  # track 1 disappears for longer than max_age
        tracker.update([face(210, sad)], frame)
    assert set(tracker.tracks) == {2}
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


# --- outcomes of process_video with stand-in models (no detection, known "paintings") ----------

class OneFace:
    """Analyzer stand-in: one happy face at a fixed place in every frame."""

    box = (150.0, 80.0, 120.0, 140.0)

    def analyze(self, frame):  # noqa: ANN001, ANN201
        from emostyle.results import Analysis
        face = Face(self.box, (), 0.99, (0, 0, 0, 0.9, 0, 0, 0.1))
        return Analysis((face,), frame.shape[1], frame.shape[0])


class Flashing:
    """Stylizer stand-in whose 'painting' alternates between dark and bright every frame."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        from emostyle.emotions import EMOTIONS

        self.calls = 0
        # what pipeline.paint asks of a stylizer: which emotions have a style, their vectors
        self.catalogue = SimpleNamespace(emotion_weights={e: {e: 1.0} for e in EMOTIONS})

    def style_weights(self, style=None, weights=None):  # noqa: ANN001, ANN201
        return np.ones(7, np.float32) / 7

    def stylize(self, frame, style=None, weights=None, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls += 1
        return np.full_like(frame, 20 if self.calls % 2 else 200)


def test_temporal_blending_mixes_each_painting_with_the_previous_output(tmp_path):
    from emostyle.video import process_video

    src = write_video(tmp_path / "in.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 6)
    shown = []
    process_video(src, None, OneFace(), Flashing(), temporal_blend=0.6,
                  on_frame=lambda i, n, out: shown.append(int(out[5, 5, 0])))
    expected, prev = [], None
    for i in range(6):
        raw = 20 if i % 2 == 0 else 200
        prev = raw if prev is None else int(np.floor(0.6 * raw + 0.4 * prev + 0.5))
        expected.append(prev)
    assert expected[:3] == [20, 128, 63]
    assert np.abs(np.array(shown) - expected).max() <= 1, (shown, expected)


def test_the_overlay_is_drawn_on_every_frame(tmp_path, astronaut):
    from emostyle.emotions import COLORS_BGR
    from emostyle.video import process_video

    frames = moving_face_frames(astronaut, 4)
    src = write_video(tmp_path / "in.mp4", frames)
    cap = cv2.VideoCapture(str(src))
    decoded = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in frames]
    shown = []
    process_video(src, None, OneFace(), on_frame=lambda i, n, out: shown.append(out.copy()))
    x, y, w, h = (round(v) for v in OneFace.box)
    happy = tuple(np.uint8(c) for c in COLORS_BGR["happy"][::-1])
    for plain, out in zip(decoded, shown, strict=True):
        assert tuple(out[y + h // 2, x]) == happy  # the box's left edge
        assert tuple(out[y + h, x + w // 2]) == happy  # its bottom edge
        assert np.array_equal(out[:, : x - 20], plain[:, : x - 20])  # nothing far from it


@pytest.mark.parametrize("suffix, marker", [(".mp4", b"mp4v"), (".webm", b"V_VP8")])
def test_the_codec_written_is_the_one_named(tmp_path, astronaut, suffix, marker):
    """MPEG-4 Part 2 in .mp4 (the sample entry 'mp4v'), VP8 in .webm (codec id 'V_VP8'),
    read back from the file's bytes and by OpenCV."""
    from emostyle.video import process_video

    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 4))
    out = tmp_path / f"out{suffix}"
    process_video(src, out, OneFace())
    assert marker in out.read_bytes()
    cap = cv2.VideoCapture(str(out))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
    assert fourcc == {".mp4": b"FMP4", ".webm": b"VP80"}[suffix]
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) in (4, 0)  # webm has no frame count
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4
