"""Video files and cameras: frame sources, per-track smoothed emotions, overlays, writers.

Frames are decoded by OpenCV's bundled FFmpeg. Timestamps come from the decoder (not index / fps),
so variable-frame-rate phone videos get correct times in the emotion log. Output is encoded by
an ffmpeg executable (system ffmpeg or the imageio-ffmpeg package) as H.264 (VP9 in WebM), so
browsers play it, with the input's audio; without one OpenCV writes MPEG-4 Part 2 and no audio.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emostyle import overlay
from emostyle.emotions import EMOTIONS
from emostyle.errors import EmostyleError, InputError
from emostyle.outputs import OutputPlan, commit, temp_beside
from emostyle.pipeline import Analyzer, StyleRequest, paint
from emostyle.results import Analysis
from emostyle.tracking import FaceTracker

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})

# OpenCV's FFmpeg prints its own log lines on stderr ("[mov,mp4,m4a,...] moov atom not found")
# before our one-line error; quiet (AV_LOG_QUIET). OpenCV reads this once, when the process
# first opens a video, so it is set here, before any FrameReader; a user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


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


# What ffmpeg writes in each container. H.264 in yuv420p is what every browser plays (and
# Chromium does not play MPEG-4 Part 2); WebM holds VP9 ("realtime" speed 8: about 1.7 CPU-s per
# 100 frames of 720p, where "good" takes 3x longer), so it plays in browsers too. veryfast
# costs half the CPU of x264's default preset here (1.2 vs 2.4 CPU-s per 100 frames of 720p)
# on cores the analysis needs, at the same quality target (crf 20).
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"]
VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
       "-crf", "32", "-b:v", "0"]
# Untagged video is shown as BT.601 by some players and BT.709 by others: convert and say so
# (setparams tags the frames, which newer encoders read; the options tag older ones' output).
COLOUR_FILTER = ("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
                 "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
COLOUR = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
          "-color_range", "tv"]
QUIET = ["-loglevel", "error", "-nostats", "-hide_banner", "-y"]  # errors only, no banner
FASTSTART = frozenset({".mp4", ".m4v", ".mov"})  # the index first: playback starts at once
CODEC_NAMES = {"h264": "H.264", "vp9": "VP9", "mp4v": "MPEG-4 Part 2 (mp4v)", "vp8": "VP8"}


def has_audio(exe: str, path: Path) -> bool:
    """Whether ffmpeg sees an audio stream in ``path`` (read from its stream listing)."""
    try:
        done = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(path)],
                              capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(r"Stream #\S+.*: Audio:", done.stderr) is not None


class VideoWriter:
    """Writes RGB frames to ``path`` through a hidden temp file; nothing appears until done.

    With ffmpeg (:func:`ffmpeg_exe`) the frames are piped to it raw and encoded once: H.264
    (yuv420p, BT.709, index at the front) in every container but WebM, which gets VP9; odd
    sizes get one black row or column (yuv420p needs even sides). ``audio_from``'s audio, when
    it has one, is added at :meth:`finish` (AAC; Opus in WebM), cut or padded with silence to
    the video's length. Without ffmpeg OpenCV writes MPEG-4 Part 2 (VP8 in WebM) and no audio.
    ``codec`` names what is written (``h264``, ``vp9``, ``mp4v``, ``vp8``); ``notice`` is one
    line for the user when the output is less than asked (no ffmpeg, audio that failed).
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int],
                 overwrite: bool = True, audio_from: Path | None = None) -> None:
        self.path = path
        self.overwrite = overwrite
        self.fps = fps
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
        self.frames = 0
        self.notice: str | None = None
        self._webm = path.suffix.lower() == ".webm"
        self._exe = ffmpeg_exe()
        self._audio = (audio_from if self._exe is not None and audio_from is not None
                       and has_audio(self._exe, audio_from) else None)
        self._proc: subprocess.Popen | None = None
        self._cv: cv2.VideoWriter | None = None
        if self._exe is not None:
            self.codec = "vp9" if self._webm else "h264"
            self._proc = self._start_ffmpeg(size)
            return
        self.codec = "vp8" if self._webm else "mp4v"
        self.notice = (f"ffmpeg not found: wrote {CODEC_NAMES[self.codec]} without audio"
                       + ("" if self._webm else ", which browsers may not play")
                       + "; install emostyle[video] for "
                       + ("VP9" if self._webm else "H.264") + " with the input's audio")
        fourcc = cv2.VideoWriter_fourcc(*("VP80" if self._webm else "mp4v"))
        self._cv = cv2.VideoWriter(str(self.tmp), fourcc, fps, size)
        if not self._cv.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise InputError(f"{path}: cannot write this video format here")

    def _start_ffmpeg(self, size: tuple[int, int]) -> subprocess.Popen:
        w, h = size
        filters = ("pad=ceil(iw/2)*2:ceil(ih/2)*2," if w % 2 or h % 2 else "") + COLOUR_FILTER
        cmd = [self._exe, *QUIET, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-framerate", f"{self.fps:.6f}", "-i", "pipe:0", "-vf", filters,
               *(VP9 if self._webm else H264), "-pix_fmt", "yuv420p", *COLOUR,
               *(self._faststart() if self._audio is None else ()), str(self.tmp)]
        # ffmpeg's messages go to a file, not to a pipe nobody reads while frames are written.
        self._log = tempfile.TemporaryFile()
        try:  # its own session: Ctrl-C stops us, and we stop it (not both, racing)
            return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=self._log, start_new_session=True)
        except OSError as exc:
            self._log.close()
            raise InputError(f"{self.path}: cannot run ffmpeg ({exc.strerror or exc})"
                             ) from None

    def _faststart(self) -> list[str]:
        return ["-movflags", "+faststart"] if self.path.suffix.lower() in FASTSTART else []

    def write(self, rgb: np.ndarray) -> None:
        self.frames += 1
        if self._cv is not None:
            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return
        try:
            self._proc.stdin.write(np.ascontiguousarray(rgb, np.uint8).data)
        except OSError:  # ffmpeg has stopped (a broken pipe): say why
            self._failed()

    def _failed(self) -> None:
        """ffmpeg stopped: clean up and raise its first message (the cause) as one line."""
        self._stop()
        self._log.seek(0)
        why = first_message(self._log.read()) or f"exit code {self._proc.returncode}"
        self._log.close()
        self.tmp.unlink(missing_ok=True)
        raise InputError(f"{self.path}: ffmpeg could not write the video ({why})")

    def _stop(self, kill: bool = True) -> int:
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        if kill and self._proc.poll() is None:
            self._proc.kill()
        return self._proc.wait()

    def finish(self) -> bool:
        """Close and move into place. Returns True when an audio track was carried over."""
        try:
            if self._cv is not None:
                self._cv.release()
                commit(self.tmp, self.path, self.overwrite)
                return False
            if self._stop(kill=False) != 0 or not self.tmp.is_file():
                self._failed()
            self._log.close()
            audio = self._audio is not None and self._add_audio()
            commit(self.tmp, self.path, self.overwrite)
            return audio
        except BaseException:  # Ctrl-C while ffmpeg finishes: nothing half-written stays
            self.tmp.unlink(missing_ok=True)
            raise

    def _add_audio(self) -> bool:
        """The input's audio beside the finished video, cut or padded to its length.

        A second, quick pass (the video is copied): piped frames and a file read in one
        pass end a few tenths of a second apart, by chance. A failure keeps the video without
        sound and says so in ``notice``.
        """
        muxed = self.tmp.with_name(self.tmp.stem + ".audio" + self.tmp.suffix)
        cmd = [self._exe, *QUIET, "-nostdin", "-i", str(self.tmp), "-i", str(self._audio),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", "apad",
               "-c:a", "libopus" if self._webm else "aac", "-b:a", "128k",
               "-t", f"{self.frames / self.fps:.6f}", *self._faststart(), str(muxed)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=3600)
            ok, why = done.returncode == 0 and muxed.is_file(), first_message(done.stderr)
            if ok:
                os.replace(muxed, self.tmp)
                return True
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, why = False, str(exc)
        finally:
            muxed.unlink(missing_ok=True)
        self.notice = f"the input's audio could not be copied ({why or 'ffmpeg failed'})"
        return False

    def abort(self) -> None:
        if self._cv is not None:
            self._cv.release()
        else:
            self._stop()
            self._log.close()
        self.tmp.unlink(missing_ok=True)


def first_message(stderr: bytes) -> str:
    """ffmpeg's first error line without its "[vost#0:0 @ 0x55ff...] " prefix: the cause
    (the lines after it are its consequences)."""
    for line in stderr.decode(errors="replace").splitlines():
        if line.strip():
            return re.sub(r"^\[[^]]*@ 0x[0-9a-f]+\]\s*", "", line.strip())
    return ""


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
    codec: str | None = None  # what the output holds: h264, vp9, or without ffmpeg mp4v, vp8
    notice: str | None = None  # one line for the user when the output is not what was wanted
    flicker: dict = field(default_factory=dict)
    log: str | None = None
    plot: str | None = None

    def summary_lines(self) -> list[str]:
        """What the run did, one line each: frames and tracks, the files, the flicker."""
        lines = [f"{self.frames} frames ({self.analyzed_frames} analyzed), "
                 f"{self.tracks} face track(s), {self.fps:.1f} fps"]
        if self.output:
            lines.append(f"video: {self.output}" + (" (with audio)" if self.audio_copied
                                                    else ""))
        if self.log or self.plot:
            lines.append("   ".join(f"{what}: {path}" for what, path in (
                ("emotion log", self.log), ("plot", self.plot)) if path))
        if self.flicker:
            f = self.flicker
            lines.append(f"flicker (mean |frame change|): input {f['input']:.2f}, stylized "
                         f"{f['stylized_raw']:.2f} -> {f['stylized_output']:.2f} after "
                         "blending")
        return lines


def frame_flicker(prev: np.ndarray | None, cur: np.ndarray) -> float:
    """Mean absolute change between consecutive frames (0-255 scale), on a small copy."""
    if prev is None:
        return 0.0
    a = cv2.resize(prev, (160, 90), interpolation=cv2.INTER_AREA).astype(np.int16)
    b = cv2.resize(cur, (160, 90), interpolation=cv2.INTER_AREA).astype(np.int16)
    return float(np.abs(a - b).mean())


def plan_video_outputs(source: Path | None, output: Path | None, log: Path | None,
                       plot: Path | None, overwrite: bool = False
                       ) -> tuple[Path | None, Path | None]:
    """Check the video, its log and its plot before any frame is read: (log path, plot path).

    The log and the plot default to ``OUTPUT.csv`` and ``OUTPUT.png``. None may be the input
    ``source``, and existing files are replaced only with ``overwrite`` (see
    :class:`emostyle.outputs.OutputPlan`).
    """
    from emostyle.images import IMAGE_SUFFIXES

    if output is not None and output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{output}: unsupported video format; use one of "
                         f"{', '.join(sorted(VIDEO_SUFFIXES))}")
    log_path = log or (output.with_suffix(".csv") if output else None)
    plot_path = plot or (output.with_suffix(".png") if output else None)
    if plot_path is not None and plot_path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{plot_path} (--plot): the plot is a picture; use one of "
                         f"{', '.join(sorted(IMAGE_SUFFIXES))}")
    plan = OutputPlan({source} if source is not None else set(), overwrite)
    plan.file(output, "-o")
    plan.file(log_path, "--log" if log else "log")
    plan.file(plot_path, "--plot" if plot else "plot")
    plan.check()
    return log_path, plot_path


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
    ``draw_faces=False`` leaves out the boxes and emoji; otherwise each track's label keeps its
    place from frame to frame (:class:`emostyle.overlay.LabelPlanner`).
    ``on_frame(index, total, frame)`` is called for progress and display; returning False stops
    early. ``overwrite=False`` never
    replaces an existing output, log or plot (an error instead).
    """
    if every < 1:
        raise InputError(f"--every must be 1 or more, got {every}")
    style = style or StyleRequest("blend", max_side=None)
    reader = FrameReader(source)
    info = reader.info
    writer = (VideoWriter(output, info.fps, (info.width, info.height), overwrite,
                          audio_from=None if isinstance(source, int) else Path(source))
              if output else None)
    tracker = FaceTracker(alpha=alpha)
    planner = overlay.LabelPlanner(max_age=tracker.max_age)  # labels keep their places
    report = VideoReport(str(source), str(output) if output else None,
                         container_frames=info.frame_count)
    rows: list[dict] = []
    prev_in = prev_out = prev_raw = None
    flicker_in, flicker_raw, flicker_out = [], [], []
    shown: list = []
    labels: list = []
    t0 = time.time()
    try:
        for index, t, frame in reader:
            if index % every == 0:
                analysis = analyzer.analyze(frame)
                tracks = tracker.update(analysis.faces, index)
                shown = [FaceTracker.smoothed_face(tr) for tr in tracks]
                if draw_faces:
                    labels = planner.plan(shown, [tr.track_id for tr in tracks],
                                          frame.shape[1], frame.shape[0])
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
                overlay.draw_faces(out, shown, labels=labels)
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
        report.audio_copied = writer.finish()
        report.codec, report.notice = writer.codec, writer.notice
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


class ShowWindow:
    """A live OpenCV window; `q` or Esc closes it."""

    def __init__(self) -> None:
        try:
            cv2.namedWindow("emostyle", cv2.WINDOW_NORMAL)
        except cv2.error:
            raise EmostyleError("--show needs a display and OpenCV with GUI support (pip "
                                "install opencv-python instead of opencv-python-headless); "
                                "the web app's emoji mirror works in a browser instead") from None

    def show(self, rgb: np.ndarray) -> bool:
        """Show one RGB frame; False once the user pressed `q` or Esc."""
        cv2.imshow("emostyle", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        cv2.destroyAllWindows()
