"""``emostyle video``: emotions over a video file or a camera, with overlays and a log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emostyle.cli_common import (
    MIN_SCORE,
    FaceModelOpt,
    MinScoreOpt,
    ModelOpt,
    OverwriteOpt,
    err,
    out,
    progress,
    run_guarded,
)
from emostyle.errors import InputError


def video(
    source: Annotated[Path | None, typer.Argument(help="Video file to read.")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Video to write: .mp4, .mov, .m4v, .mkv or .avi in H.264, .webm "
                               "in VP9, with the input's audio (needs ffmpeg: pip install "
                               "'emostyle\\[video]'; without it MPEG-4 Part 2 or VP8, silent).")
                      ] = None,
    camera: Annotated[int | None, typer.Option(
        help="Read camera N instead of a file.")] = None,
    show: Annotated[bool, typer.Option(
        help="Show a live window (needs a display and OpenCV with GUI support).")] = False,
    stylize: Annotated[bool, typer.Option(help="Repaint frames in the mood's style.")] = False,
    every: Annotated[int, typer.Option(help="Analyze one frame in N; tracks carry over.")] = 1,
    smoothing: Annotated[float, typer.Option(
        min=0.01, max=1.0, help="Weight of the newest frame in each track's moving average "
                                "(1 = no smoothing).")] = 0.35,
    log: Annotated[Path | None, typer.Option(
        help="Per-frame, per-track emotions (.csv or .jsonl); default OUTPUT.csv.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="PNG plot of emotions over time; default OUTPUT.png.")] = None,
    max_frames: Annotated[int, typer.Option(help="Stop after N frames (0: all).")] = 0,
    model: ModelOpt = "default",
    face_model: FaceModelOpt = None,
    min_score: MinScoreOpt = MIN_SCORE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")
                       ] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Track faces through a video, smooth their emotions, and write an overlaid video.

    The video, its log and its plot are checked before any frame is read: none may be the
    input, and existing files are replaced only with --overwrite. With ffmpeg (on the PATH or
    from pip install 'emostyle\\[video]') the video is H.264 (VP9 in .webm), which browsers
    play, with the input's audio; without it OpenCV writes MPEG-4 Part 2 (VP8) without audio,
    and a notice says so. On a terminal, stderr shows the frames done of the total, the fps
    and the time left.
    """

    def body() -> int:
        from emostyle.pipeline import Analyzer
        from emostyle.video import ShowWindow, plan_video_outputs, process_video

        if (source is None) == (camera is None):
            raise InputError("give either a video file or --camera N")
        if output is None and not show and log is None:
            raise InputError("nothing to do: give -o OUTPUT, --log PATH or --show")
        log_path, plot_path = plan_video_outputs(source, output, log, plot, overwrite)
        analyzer = Analyzer(model, face_model, min_score=min_score)
        stylizer = None
        if stylize:
            from emostyle.stylizer import Stylizer
            stylizer = Stylizer()
        window = ShowWindow() if show else None
        report = None
        try:
            with progress() as bars:
                def on_frame(index: int, total: int, frame) -> bool:  # noqa: ANN001
                    # frames done of the container's count (or --max-frames), fps, time left
                    if max_frames:
                        total = min(total, max_frames) if total else max_frames
                    bars.count("video", index + 1, total, rate="fps")
                    return window.show(frame) if window is not None else True

                report = process_video(camera if camera is not None else source, output,
                                       analyzer, stylizer, every, smoothing,
                                       log_path=log_path, plot_path=plot_path,
                                       max_frames=max_frames, on_frame=on_frame,
                                       overwrite=overwrite)
        finally:
            if window is not None:
                window.close()
        if report.notice:
            err.print(report.notice, markup=False)
        if as_json:
            print(json.dumps(report.__dict__, indent=2))
            return 0
        for line in report.summary_lines():
            out.print(line, markup=False)  # file names as they are, brackets and all
        if report.skipped_frames:
            err.print(f"{len(report.skipped_frames)} corrupt frame(s) skipped: "
                      f"{report.skipped_frames[:20]}")
        return 0

    run_guarded(body)
