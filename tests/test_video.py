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


def test_the_summary_names_only_the_files_written(tmp_path, astronaut, face_model):
    """A log without a video has no plot: the summary said 'plot: None'. Names are printed as
    they are, not as rich markup."""
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 3))
    log = tmp_path / "log[v2].csv"
    res = CliRunner().invoke(app, ["video", str(src), "--log", str(log)],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert f"emotion log: {log}\n" in res.stdout and "None" not in res.stdout
    out = tmp_path / "clip[v2].mp4"
    res = CliRunner().invoke(app, ["video", str(src), "-o", str(out)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert f"video: {out}" in res.stdout
    assert f"emotion log: {out.with_suffix('.csv')}   plot: {out.with_suffix('.png')}\n" \
        in res.stdout


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


def test_the_decoders_own_log_lines_never_reach_the_user(tmp_path, astronaut, face_model):
    """OpenCV's FFmpeg printed '[mov,mp4,...] moov atom not found' on stderr before our one
    line. Run as its own process: FFmpeg reads its log level once, when a process first opens
    a video, and this test session has opened many."""
    import os
    import sys

    import emostyle

    whole = write_video(tmp_path / "whole.mp4", moving_face_frames(astronaut, 6))
    cut = tmp_path / "cut.mp4"  # OpenCV writes the index (moov) last: cut, it is lost
    cut.write_bytes(whole.read_bytes()[:3000])
    src = str(Path(emostyle.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "emostyle", "video", str(cut), "-o",
                           str(tmp_path / "o.mp4")], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {cut}: not a readable video"]
    assert done.stdout == "" and not (tmp_path / "o.mp4").exists()


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
    src = clip_with_audio(tmp_path / "with_audio.mp4")
    out = tmp_path / "o.mp4"
    res = run(str(src), "-o", str(out), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["audio_copied"] is True and report["codec"] == "h264"
    video, sound = streams(out)
    assert "Video: h264" in video and "yuv420p" in video and "Audio: aac" in sound
    assert run(str(src), "-o", str(tmp_path / "o2.mp4")).stdout.count("(with audio)") == 1


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


def jittering_face(y: int) -> Face:
    return Face((100.0, float(y), 80.0, 80.0), (), 0.99, (0, 0, 0, 0.9, 0, 0, 0.1))


class Jittering:
    """Analyzer stand-in: an 80 px face near the bottom of a 300 x 200 frame whose box moves by
    1-3 px from frame to frame, just where a fresh plan flips its label between below and
    above (the case of tests/test_overlay.py)."""

    ys = [100, 103, 99, 102, 101, 103, 100, 102]

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, frame):  # noqa: ANN001, ANN201
        from emostyle.results import Analysis
        face = jittering_face(self.ys[self.calls % len(self.ys)])
        self.calls += 1
        return Analysis((face,), frame.shape[1], frame.shape[0])


def test_a_tracked_face_keeps_its_label_place_in_the_video(tmp_path, monkeypatch):
    from emostyle import overlay, video

    fresh = {overlay.plan_labels([jittering_face(y)], 300, 200)[0].slot for y in Jittering.ys}
    assert len(fresh) > 1, "the case must make per-frame planning switch"
    drawn = []
    real = overlay.draw_faces

    def record(image, faces, label=True, labels=None):  # noqa: ANN001, ANN202
        out = real(image, faces, label, labels)
        drawn.append(tuple((lb.slot, lb.compact) for lb in out))
        return out

    monkeypatch.setattr(video.overlay, "draw_faces", record)
    src = write_video(tmp_path / "in.mp4", [np.full((200, 300, 3), 90, np.uint8)] * 8)
    video.process_video(src, None, Jittering())
    assert len(drawn) == 8 and all(len(d) == 1 for d in drawn)
    assert len(set(drawn)) == 1, drawn


def ffmpeg() -> str:
    return pytest.importorskip("imageio_ffmpeg", reason="needs ffmpeg (pip install "
                               "'emostyle[video]')").get_ffmpeg_exe()


def streams(path: Path) -> list[str]:
    """The 'Stream #...' lines ffmpeg prints for ``path`` (there is no ffprobe here)."""
    info = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    return [line.strip() for line in info.splitlines() if line.strip().startswith("Stream #")]


def clip_with_audio(path: Path, seconds: float = 1, audio_seconds: float | None = None
                    ) -> Path:
    """A 320x240 test-pattern clip at 10 fps with a 440 Hz tone (MPEG-4 Part 2 and AAC)."""
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={audio_seconds or seconds}", "-f", "lavfi",
                    "-i", f"testsrc=size=320x240:rate=10:duration={seconds}", "-c:v", "mpeg4",
                    "-c:a", "aac", str(path)], check=True)
    return path


def duration(path: Path) -> float:
    info = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    h, m, s = info.split("Duration: ")[1].split(",")[0].split(":")
    return 3600 * int(h) + 60 * int(m) + float(s)


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


@pytest.mark.parametrize("suffix, codec, fourcc", [(".mp4", "h264", b"h264"),
                                                   (".mov", "h264", b"h264"),
                                                   (".mkv", "h264", b"h264"),
                                                   (".webm", "vp9", b"VP90")])
def test_ffmpeg_writes_h264_yuv420p_that_browsers_play(tmp_path, astronaut, suffix, codec,
                                                       fourcc):
    """H.264 in yuv420p (VP9 in WebM), read back by ffmpeg and OpenCV; in MP4 and MOV the
    index (moov) comes before the data (mdat), so playback starts before the download ends."""
    from emostyle.video import process_video

    ffmpeg()
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 4))
    out = tmp_path / f"out{suffix}"
    report = process_video(src, out, OneFace())
    assert report.codec == codec and report.notice is None and report.audio_copied is False
    (video,) = streams(out)  # no audio track: the input has none
    assert f"Video: {codec}" in video and "yuv420p" in video and "480x360" in video
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == fourcc
    assert count_frames(out) == 4
    if suffix in (".mp4", ".mov"):
        data = out.read_bytes()
        moov = data.find(b"moov")
        assert 0 < moov < data.find(b"avc1", moov) < data.find(b"mdat")
    assert not list(tmp_path.glob(".*"))  # no temp file left


def test_odd_sizes_get_an_even_frame(tmp_path):
    """yuv420p needs even sides: a 161x121 video is written 162x122, not refused."""
    from emostyle.video import VideoWriter

    ffmpeg()
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, 10, (161, 121))
    for _ in range(3):
        writer.write(np.full((121, 161, 3), 90, np.uint8))
    writer.finish()
    (video,) = streams(out)
    assert "Video: h264" in video and "162x122" in video
    assert count_frames(out) == 3


@pytest.mark.parametrize("suffix, audio", [(".mp4", "aac"), (".webm", "opus")])
def test_audio_is_kept_in_h264_and_vp9_output(tmp_path, suffix, audio):
    """The sound is cut where the video stops (here after 12 of 20 frames)."""
    from emostyle.video import process_video

    src = clip_with_audio(tmp_path / "with_audio.mp4", seconds=2)
    out = tmp_path / f"out{suffix}"
    report = process_video(src, out, OneFace(), max_frames=12)
    assert report.audio_copied and report.notice is None
    video, sound = streams(out)
    assert ("Video: h264" if suffix == ".mp4" else "Video: vp9") in video
    assert f"Audio: {audio}" in sound
    assert 1.15 <= duration(out) <= 1.3
    assert count_frames(out) == 12
    if suffix == ".mp4":
        data = out.read_bytes()
        assert 0 < data.find(b"moov") < data.find(b"mdat")  # still index first
    assert not list(tmp_path.glob(".*"))


def test_short_audio_is_padded_not_the_video_cut(tmp_path):
    from emostyle.video import process_video

    src = clip_with_audio(tmp_path / "short_sound.mp4", seconds=2, audio_seconds=0.5)
    out = tmp_path / "out.mp4"
    assert process_video(src, out, OneFace()).audio_copied
    assert count_frames(out) == 20 and 1.95 <= duration(out) <= 2.1


def test_audio_that_cannot_be_copied_leaves_the_video_and_a_notice(tmp_path, astronaut,
                                                                  monkeypatch):
    from emostyle import video
    from emostyle.video import process_video

    ffmpeg()
    monkeypatch.setattr(video, "has_audio", lambda exe, path: True)  # it has none
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 4))
    out = tmp_path / "out.mp4"
    report = process_video(src, out, OneFace())
    assert not report.audio_copied and report.codec == "h264"
    assert report.notice.startswith("the input's audio could not be copied (")
    assert count_frames(out) == 4 and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("suffix, marker, fourcc, codec", [
    (".mp4", b"mp4v", b"FMP4", "MPEG-4 Part 2 (mp4v)"), (".webm", b"V_VP8", b"VP80", "VP8")])
def test_without_ffmpeg_opencv_writes_and_says_which_codec(tmp_path, astronaut, monkeypatch,
                                                           suffix, marker, fourcc, codec):
    """No ffmpeg: MPEG-4 Part 2 in .mp4 (the sample entry 'mp4v'), VP8 in .webm (codec id
    'V_VP8'), read back from the file's bytes and by OpenCV, and one line saying so."""
    from emostyle import video
    from emostyle.video import process_video

    monkeypatch.setattr(video, "ffmpeg_exe", lambda: None)
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 4))
    out = tmp_path / f"out{suffix}"
    report = process_video(src, out, OneFace())
    assert marker in out.read_bytes()
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == fourcc
    assert count_frames(out) == 4
    assert report.notice.startswith(f"ffmpeg not found: wrote {codec} without audio")
    assert "install emostyle[video]" in report.notice
    assert ("browsers may not play" in report.notice) == (suffix == ".mp4")


def test_the_cli_prints_the_fallback_notice_once(tmp_path, astronaut, face_model, monkeypatch):
    from emostyle import video

    monkeypatch.setattr(video, "ffmpeg_exe", lambda: None)
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 3))
    res = run(str(src), "-o", str(tmp_path / "o.mp4"))
    assert res.exit_code == 0, res.output
    notice = ("ffmpeg not found: wrote MPEG-4 Part 2 (mp4v) without audio, which browsers may "
              "not play; install emostyle[video] for H.264 with the input's audio")
    assert res.stderr.count(notice) == 1, res.stderr
    assert notice not in res.stdout


def test_an_ffmpeg_failure_is_one_line_and_leaves_nothing(tmp_path, astronaut, face_model,
                                                          monkeypatch, capfd):
    """ffmpeg's own messages never reach the terminal; its last one ends our error line."""
    from emostyle import video

    ffmpeg()
    monkeypatch.setattr(video, "H264", ["-c:v", "no_such_encoder"])
    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 3))
    out = tmp_path / "o.mp4"
    res = run(str(src), "-o", str(out))
    assert res.exit_code == 2
    (line,) = res.output.strip().splitlines()
    assert line.startswith(f"error: {out}: ffmpeg could not write the video (")
    assert line.endswith("(Unknown encoder 'no_such_encoder')")
    assert capfd.readouterr().err == ""  # nothing from the ffmpeg process itself
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_the_cli_shows_frames_done_of_total_with_fps_and_time_left(tmp_path, astronaut,
                                                                    face_model, terminal_bars):
    import re

    src = write_video(tmp_path / "in.mp4", moving_face_frames(astronaut, 6))
    res = run(str(src), "-o", str(tmp_path / "o.mp4"))
    assert res.exit_code == 0, res.output
    assert terminal_bars == [("video", i, 6) for i in range(1, 7)]
    assert "video" in res.stderr and "5/6" in res.stderr and " fps" in res.stderr
    assert re.search(r"\d:\d\d:\d\d|-:--:--", res.stderr)  # time left
    terminal_bars.clear()
    res = run(str(src), "-o", str(tmp_path / "o2.mp4"), "--max-frames", "3")
    assert res.exit_code == 0, res.output
    assert terminal_bars == [("video", i, 3) for i in range(1, 4)]  # the total it will do
