"""The photo page: upload or take a photo -> emoji faces, probability bars, mood, painting."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import streamlit as st

from emostyle.app import engine, ui
from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.errors import EmostyleError, InputError
from emostyle.overlay import annotate
from emostyle.results import Analysis

EXPORTED = "exported"
MAX_CHARTS = 12  # a crowd photo gets bars for its first faces; the JSON has them all
STYLE_MODES = {"auto": "The mood (automatic)", "emotion": "An emotion I pick",
               "blend": "A blend, weighted by the mood",
               "per_face": "Each face in its own mood"}


@dataclass(frozen=True)
class Settings:
    model: str
    detect: bool
    min_score: float
    explain: bool = False


def sidebar() -> Settings:
    """Model, detection on/off and detection threshold, from the sidebar."""
    with st.sidebar:
        st.header("Settings")
        labels = {"default": "default (bundled)", "accurate": "accurate (bundled)",
                  EXPORTED: "an exported model…"}
        pick = st.radio("Emotion model", [*engine.emotion_models(), EXPORTED],
                        format_func=labels.get, key="model_choice",
                        help="`accurate` is listed when it is installed. An exported model is "
                             "an .onnx file written by `emostyle export`, with its .json card.")
        model = pick
        if pick == EXPORTED:
            model = exported_model()
        detect = st.toggle("Detect faces", value=True, key="detect",
                           help="Switch off for photos that are already a face crop: the "
                                "whole photo is then read as one face.")
        score = st.slider("Face detection confidence", 0.3, 0.95,
                          engine.DEFAULT_DETECTION_SCORE, 0.05, key="min_score",
                          disabled=not detect,
                          help="Faces the detector is less sure of than this are ignored. "
                               "Lower it for small or turned faces, raise it if it finds "
                               "faces that are not there.")
        explain = st.toggle("Show where the model looked", value=False, key="explain",
                            help="Lays each face's class activation map over the picture: "
                                 "red is what drove the emotion read on that face.")
    return Settings(model, detect, score, explain)


def exported_model() -> str:
    """A path typed in, or an uploaded .onnx + .json pair; ``default`` until one is given."""
    path = st.text_input("Path to an exported .onnx (its .json card beside it)",
                         key="model_path").strip()
    files = st.file_uploader("…or upload the .onnx and its .json card", type=["onnx", "json"],
                             accept_multiple_files=True, key="model_files")
    if files:
        try:
            return str(engine.save_uploaded_model([(f.name, f.getvalue()) for f in files]))
        except InputError as exc:
            st.error(str(exc))
    elif path:
        return path
    st.caption("Using the default model until an exported one is given.")
    return "default"


def picture_input():  # noqa: ANN201 - UploadedFile | None
    source = st.segmented_control("Picture from", ["Upload", "Camera"], default="Upload",
                                  key="source", label_visibility="collapsed") or "Upload"
    if source == "Camera":
        shot = st.camera_input("Take a photo", key="camera")
        st.caption("Nothing to see? Allow the camera for this site (the camera icon in the "
                   "address bar). Browsers give cameras only to https:// pages and to "
                   "http://localhost.")
        return shot
    return st.file_uploader(
        "Upload a photo", type=list(engine.UPLOAD_TYPES), key="upload",
        max_upload_size=engine.UPLOAD_TRANSFER_MB,
        help=f"JPEG, PNG, WebP, BMP, TIFF or GIF, up to {engine.MAX_UPLOAD_MB} MB. Photos "
             f"longer than {engine.MAX_SIDE} px are scaled down.")


def show_faces(analysis: Analysis) -> None:
    st.subheader("Mood")
    st.markdown(f"#### {engine.mood_line(analysis)}")
    if not analysis.faces:
        why = "; ".join(analysis.notes) or "no face found"
        st.warning(f"No face to read in this photo ({why}). Try a photo where faces are "
                   "clearly visible, lower the detection confidence in the sidebar, or switch "
                   "off face detection if the photo is already a face crop.", icon="🙈")
        return
    st.caption("Faces from left to right.")
    for i, face in enumerate(analysis.faces[:MAX_CHARTS], 1):
        st.markdown(f"**{engine.face_title(i, face)}**")
        st.altair_chart(ui.probability_chart(face.probabilities), width="stretch")
    if len(analysis.faces) > MAX_CHARTS:
        st.caption(f"…and {len(analysis.faces) - MAX_CHARTS} more faces: all of them are in "
                   "the JSON download.")


def style_controls(analysis: Analysis, stylizer=None) -> engine.StyleRequest:  # noqa: ANN001
    mode = st.radio("Paint it in", list(STYLE_MODES), format_func=STYLE_MODES.get,
                    key="style_mode")
    default = EMOTIONS.index(analysis.mood) if analysis.mood else EMOTIONS.index("neutral")
    emotion = st.selectbox("Emotion or style", engine.style_choices(stylizer), index=default,
                           key="style_emotion",
                           format_func=lambda e: f"{EMOJI[e]} {e}" if e in EMOJI else
                           f"🖼️ {e}", disabled=mode != "emotion")
    strength = st.slider("Strength", 0.0, 1.0, 1.0, 0.05, key="style_strength",
                         help="0 keeps the photo, 1 is the full painting.")
    keep = st.checkbox("Keep the photo's colours", key="style_keep_colors")
    side = st.select_slider("Painting resolution (long side, px)", [512, 768, 1024, 1536],
                            value=engine.DEFAULT_STYLE_SIDE, key="style_side",
                            help="The style network runs at this size; the result is brought "
                                 "back to the photo's size along its edges. Larger is slower "
                                 "and paints finer strokes.")
    return engine.StyleRequest(mode, emotion, strength, keep, side)


def show_painting(upload: engine.Upload, key: str, analysis: Analysis):  # noqa: ANN201
    """The painted picture (or a notice saying why there is none); returns it or None."""
    st.subheader("🎨 Painted in its mood")
    controls, picture = st.columns([1, 2], gap="large")
    try:
        stylizer = ui.stylizer(engine.style_model_name())
    except engine.StylesUnavailable as exc:
        stylizer, unavailable = None, exc
    with controls:
        request = style_controls(analysis, stylizer)
    with picture:
        if stylizer is None:
            st.info(f"The mood painting is not available here: {unavailable}", icon="🖼️")
            return None
        choice = engine.choose_style(analysis, request, stylizer)
        try:
            styled = ui.painted(key, choice.key, astuple(request), engine.style_model_name(),
                                upload.image, choice, request)
        except EmostyleError as exc:  # e.g. a styles.toml naming a style the model lacks
            st.warning(f"This picture could not be painted: {exc}", icon="🖼️")
            return None
        caption = f"Painted {choice.description}"
        painting = engine.style_painting(stylizer, choice.style) if choice.style else None
        if painting:
            caption += f", after {painting}"
        st.image(engine.screen_jpeg(styled), caption=caption, output_format="JPEG")
        return styled


def downloads(upload: engine.Upload, annotated, styled, json_text: str) -> None:  # noqa: ANN001
    files = [("⬇️ Picture with emoji", engine.jpeg_bytes(annotated),
              f"{upload.stem}_emoji.jpg", "image/jpeg", "dl_annotated")]
    if styled is not None:
        files.append(("⬇️ Painted picture", engine.jpeg_bytes(styled),
                      f"{upload.stem}_painted.jpg", "image/jpeg", "dl_painted"))
    files.append(("⬇️ Results (JSON)", json_text.encode("utf-8"), f"{upload.stem}_emostyle.json",
                  "application/json", "dl_json"))
    for col, (label, data, name, mime, key) in zip(st.columns(len(files)), files, strict=True):
        col.download_button(label, data, name, mime, key=key)


def page() -> None:
    settings = sidebar()
    st.title("😄 emostyle")
    st.caption("Finds every face, reads its emotion, puts the emoji on it, and paints the whole "
               "photo in its mood.")
    file = picture_input()
    if file is None:
        ui.forget_upload()
        st.info("Upload a photo with faces, or take one with the camera, to begin.", icon="👆")
        return
    too_large = engine.upload_too_large(file.name or "the photo", file.size)
    if too_large:  # in the page, not only in the upload box; nothing of the last photo stays
        st.error(too_large, icon="🚫")
        return
    data = file.getvalue()
    try:
        upload = ui.decode(data, file.name or "camera.jpg")
    except InputError as exc:
        st.error(f"That file could not be read as a picture: {exc}. Upload a JPEG, PNG, WebP, "
                 "BMP, TIFF or GIF photo.", icon="🚫")
        return
    for note in upload.notes:
        st.info(note, icon="📐")
    key = engine.upload_key(data)
    analyzer = ui.analyzer(settings.model, settings.detect)
    analysis = engine.left_to_right(
        analyzer.analyze(upload.image, settings.min_score, source=upload.name))
    shown = upload.image
    if settings.explain and analysis.faces:
        try:
            shown = analyzer.explained(upload.image, analysis)
        except EmostyleError as exc:
            st.warning(f"No map to show: {exc}", icon="🗺️")
    annotated = annotate(shown, analysis)
    left, right = st.columns([3, 2], gap="large")
    with left:
        h, w = upload.image.shape[:2]
        st.image(engine.screen_jpeg(annotated),
                 caption=f"{upload.name} · {w}x{h} px · {len(analysis.faces)} face(s) · "
                         f"model {analyzer.model_name}", output_format="JPEG")
    with right:
        show_faces(analysis)
    st.divider()
    styled = show_painting(upload, key, analysis)
    st.divider()
    downloads(upload, annotated, styled,
              engine.analysis_json(analysis, analyzer.model_name, upload.notes))


ui.guarded(page, release_memory=True)
