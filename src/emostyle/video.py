"""Video files and cameras: frame sources, per-track smoothed emotions, overlays, writers.

Frames are decoded by OpenCV's bundled FFmpeg. Timestamps come from the decoder (not index / fps),
so variable-frame-rate phone videos get correct times in the emotion log. Audio is copied to
the output when an ffmpeg executable is available (system ffmpeg or the imageio-ffmpeg package).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emostyle import overlay
from emostyle.emotions import EMOTIONS
from emostyle.errors import InputError
from emostyle.outputs import commit, temp_beside
from emostyle.pipeline import Analyzer, StyleRequest, paint
from emostyle.results import Analysis
from emostyle.tracking import FaceTracker

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int  # as the container states it; 0 when unknown (cameras, some streams)


class FrameReader:
    """Decoded RGB frames of a video file or camera, with timestamps in seconds.

    A frame that fails to decode in the middle of a file is skipped and recorded in
    ``skipped``; reading stops after ``max_bad`` failures in a row (the real end of the file).
    """

    def __init__(self, source: str | Path | int, max_bad: int = 25) -> None:
        self.source = source
        self.max_bad = max_bad
        self.skipped: list[int] = []
        if isinstance(source, int):
            self._cap = cv2.VideoCapture(source)
            if not self._cap.isOpened():
                raise InputError(f"camera {source}: cannot be opened (not present or in use)")
        else:
            path = Path(source)
            if not path.exists():
                raise InputError(f"{path}: no such file or directory")
            if path.stat().st_size == 0:
                raise InputError(f"{path}: empty file (0 bytes)")
            self._cap = cv2.VideoCapture(str(path))
            if not self._cap.isOpened():
                raise InputError(f"{path}: not a readable video")
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w <= 0 or h <= 0:
            self.close()
            raise InputError(f"{source}: not a readable video (no picture stream)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info = VideoInfo(w, h, fps if 1.0 <= fps <= 240.0 else 30.0, max(0, count))

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yields (frame index, time in seconds, RGB frame); failed reads go to ``skipped``.

        Indices count read attempts. OpenCV's demuxer can swallow a neighbour together with a
        broken frame without a second failure, so ``skipped`` may undercount; the container's
        own frame count is kept in ``info`` for comparison.
        """
        index, bad = 0, 0
        started = time.monotonic()
        camera = isinstance(self.source, int)
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.info.frame_count and index < self.info.frame_count \
                        and bad < self.max_bad:
                    self.skipped.append(index)
                    index += 1
                    bad += 1
                    continue
                break
            bad = 0
            t = (time.monotonic() - started) if camera else \
                self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield index, t, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        # Failures right before the end are the container over-stating its length.
        while self.skipped and self.skipped[-1] >= index - bad:
            self.skipped.pop()

    def close(self) -> None:
        self._cap.release()


def ffmpeg_exe() -> str | None:
    """An ffmpeg executable: the system one, else the one inside imageio-ffmpeg, else None."""
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


class VideoWriter:
    """Writes RGB frames to ``path`` through a hidden temp file; nothing appears until done."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int],
                 overwrite: bool = True) -> None:
        self.path = path
        self.overwrite = overwrite
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{path}: unsupported video format; use one of "
                             f"{', '.join(sorted(VIDEO_SUFFIXES))}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{path.parent}: cannot create output folder ({exc.strerror})"
                             ) from None
        if not os.access(path.parent, os.W_OK):
            raise InputError(f"{path}: output folder is not writable")
        self.tmp = path.parent / f".{path.stem}.partial{path.suffix}"
        fourcc = cv2.VideoWriter_fourcc(*("VP80" if path.suffix.lower() == ".webm" else "mp4v"))
        self._w = cv2.VideoWriter(str(self.tmp), fourcc, fps, size)
        if not self._w.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise InputError(f"{path}: cannot write this video format here")

    def write(self, rgb: np.ndarray) -> None:
        self._w.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def finish(self, audio_from: Path | None = None) -> bool:
        """Close and move into place; copy ``audio_from``'s audio when ffmpeg exists.

        Returns True when an audio track was carried over.
        """
        self._w.release()
        exe = ffmpeg_exe() if audio_from is not None else None
        if exe is not None:
            muxed = self.tmp.with_name(self.tmp.stem + ".audio" + self.tmp.suffix)
            cmd = [exe, "-v", "error", "-y", "-i", str(self.tmp), "-i", str(audio_from),
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                   "-shortest", str(muxed)]
            done = subprocess.run(cmd, capture_output=True, timeout=600)
            if done.returncode == 0 and muxed.is_file():
                self.tmp.unlink(missing_ok=True)
                commit(muxed, self.path, self.overwrite)
                return True
            muxed.unlink(missing_ok=True)  # the input had no audio track: keep video only
        commit(self.tmp, self.path, self.overwrite)
        return False

    def abort(self) -> None:
        self._w.release()
        self.tmp.unlink(missing_ok=True)


@dataclass
class VideoReport:
    """What a video run did; written next to the output as JSON."""

    source: str
    output: str | None
    frames: int = 0
    container_frames: int = 0
    analyzed_frames: int = 0
    skipped_frames: list[int] = field(default_factory=list)
    tracks: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    audio_copied: bool = False
    flicker: dict = field(default_factory=dict)
    log: str | None = None
    plot: str | None = None


def frame_flicker(prev: np.ndarray | None, cur: np.ndarray) -> float:
    """Mean absolute change between consecutive frames (0-255 scale), on a small copy."""
    if prev is None:
        return 0.0
    a = cv2.resize(prev, (160, 90), interpolation=cv2.INTER_AREA).astype(np.int16)
    b = cv2.resize(cur, (160, 90), interpolation=cv2.INTER_AREA).astype(np.int16)
    return float(np.abs(a - b).mean())


def process_video(source: str | Path | int, output: Path | None, analyzer: Analyzer,
                  stylizer=None, every: int = 1, alpha: float = 0.35,  # noqa: ANN001
                  temporal_blend: float = 0.6, log_path: Path | None = None,
                  plot_path: Path | None = None, max_frames: int = 0,
                  on_frame: Callable[[int, int, np.ndarray], bool | None] | None = None,
                  style: StyleRequest | None = None, draw_faces: bool = True,
                  overwrite: bool = True) -> VideoReport:
    """Analyze (and optionally stylize) every frame; write the overlaid video and a log.

    ``every`` analyzes one frame in N and carries the tracks over in between. With a
    ``stylizer`` each frame is painted by :func:`emostyle.pipeline.paint` from the current
    smoothed mood, as ``style`` asks (default: a blend by the mood at full resolution);
    ``temporal_blend`` is the weight of the new stylized frame against the previous output
    (1 = no blending), which removes most frame-to-frame shimmer of feed-forward style networks.
    ``draw_faces=False`` leaves out the boxes and emoji. ``on_frame(index, total, frame)`` is
    called for progress and display; returning False stops early. ``overwrite=False`` never
    replaces an existing output, log or plot (an error instead).
    """
    if every < 1:
        raise InputError(f"--every must be 1 or more, got {every}")
    style = style or StyleRequest("blend", max_side=None)
    reader = FrameReader(source)
    info = reader.info
    writer = (VideoWriter(output, info.fps, (info.width, info.height), overwrite)
              if output else None)
    tracker = FaceTracker(alpha=alpha)
    report = VideoReport(str(source), str(output) if output else None,
                         container_frames=info.frame_count)
    rows: list[dict] = []
    prev_in = prev_out = prev_raw = None
    flicker_in, flicker_raw, flicker_out = [], [], []
    shown: list = []
    t0 = time.time()
    try:
        for index, t, frame in reader:
            if index % every == 0:
                analysis = analyzer.analyze(frame)
                tracks = tracker.update(analysis.faces, index)
                shown = [FaceTracker.smoothed_face(tr) for tr in tracks]
                report.analyzed_frames += 1
                for tr, face in zip(tracks, shown, strict=True):
                    rows.append({"frame": index, "time_s": round(t, 3), "track": tr.track_id,
                                 "box": [round(v, 1) for v in face.box],
                                 "emotion": face.emotion, "confidence": round(face.confidence, 4),
                                 "uncertain": face.uncertain,
                                 **{e: round(p, 4) for e, p in zip(EMOTIONS, face.probabilities,
                                                                   strict=True)}})
            out = frame
            if stylizer is not None:
                smoothed = Analysis(tuple(shown), info.width, info.height)
                raw = paint(stylizer, frame, smoothed, style).image
                out = raw
                if prev_out is not None and temporal_blend < 1.0:
                    out = cv2.addWeighted(raw, temporal_blend, prev_out, 1 - temporal_blend, 0)
                flicker_in.append(frame_flicker(prev_in, frame))
                flicker_raw.append(frame_flicker(prev_raw, raw))
                flicker_out.append(frame_flicker(prev_out, out))
                prev_in, prev_raw, prev_out = frame, raw, out
                out = out.copy()
            else:
                out = frame  # drawing in place: the decoded frame is ours
            if draw_faces:
                overlay.draw_faces(out, shown)
            if writer is not None:
                writer.write(out)
            report.frames += 1
            if on_frame is not None and on_frame(index, info.frame_count, out) is False:
                break
            if max_frames and report.frames >= max_frames:
                break
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        reader.close()
    if report.frames == 0:
        if writer is not None:
            writer.abort()
        raise InputError(f"{source}: no decodable frames (empty or corrupt video)")
    if writer is not None:
        report.audio_copied = writer.finish(None if isinstance(source, int) else Path(source))
    report.seconds = time.time() - t0
    report.fps = report.frames / max(report.seconds, 1e-9)
    report.skipped_frames = list(reader.skipped)
    report.tracks = tracker.started
    if flicker_in:
        report.flicker = {"input": float(np.mean(flicker_in[1:] or [0])),
                          "stylized_raw": float(np.mean(flicker_raw[1:] or [0])),
                          "stylized_output": float(np.mean(flicker_out[1:] or [0]))}
    if log_path is not None:
        write_log(rows, log_path, overwrite)
        report.log = str(log_path)
    if plot_path is not None:
        emotion_plot(rows, plot_path, overwrite=overwrite)
        report.plot = str(plot_path)
    return report


def write_log(rows: list[dict], path: Path, overwrite: bool = True) -> None:
    """Per-frame, per-track emotions as CSV (``.csv``) or JSON lines (anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            if path.suffix.lower() == ".csv":
                fields = ["frame", "time_s", "track", "box", "emotion", "confidence", "uncertain",
                          *EMOTIONS]
                w = csv.DictWriter(fh, fieldnames=fields)
                w.writeheader()
                for r in rows:
                    w.writerow({**r, "box": " ".join(str(v) for v in r["box"])})
            else:
                for r in rows:
                    fh.write(json.dumps(r) + "\n")
        commit(tmp, path, overwrite)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the log ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


def emotion_plot(rows: list[dict], path: Path, size: tuple[int, int] = (960, 420),
                 overwrite: bool = True) -> None:
    """A PNG of each emotion's probability over time (mean over the faces in each frame).

    Drawn with OpenCV so the inference install needs no plotting library.
    """
    from emostyle.images import write_image
    from emostyle.overlay import rgb

    w, h = size
    left, right, top, bottom = 60, 130, 20, 40
    img = np.full((h, w, 3), 255, np.uint8)
    pw, ph = w - left - right, h - top - bottom
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    for k in range(0, 11, 2):
        y = top + ph - int(ph * k / 10)
        cv2.line(img, (left - 4, y), (left, y), (0, 0, 0), 1)
        cv2.putText(img, f"{k / 10:.1f}", (left - 45, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    times = sorted({r["time_s"] for r in rows})
    if times:
        t_end = max(times[-1], 1e-3)
        per_time = {t: [r for r in rows if r["time_s"] == t] for t in times}
        for e_i, emotion in enumerate(EMOTIONS):
            pts = [(left + int(pw * t / t_end),
                    top + ph - int(ph * np.mean([r[emotion] for r in per_time[t]])))
                   for t in times]
            if len(pts) > 1:
                cv2.polylines(img, [np.array(pts, np.int32)], False, rgb(emotion), 2,
                              cv2.LINE_AA)
            y = top + 18 + 22 * e_i
            cv2.line(img, (w - right + 10, y - 5), (w - right + 35, y - 5), rgb(emotion), 3)
            cv2.putText(img, emotion, (w - right + 40, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"time (s), 0 - {t_end:.1f}", (left + pw // 2 - 60, h - 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(img, path, overwrite=overwrite)
