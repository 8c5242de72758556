"""The models page: each bundled model's card, and the architecture comparison."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from emostyle.app import engine, ui
from emostyle.emotions import EMOJI, EMOTIONS


def pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "–"


def emotion_card(path: Path, card: dict) -> None:
    m = card.get("metrics", {})
    cols = st.columns(4)
    cols[0].metric("PrivateTest accuracy", pct(m.get("private_accuracy")),
                   help="FER2013 PrivateTest (3,589 faces), read once after model selection.")
    cols[1].metric("Macro-F1", pct(m.get("private_macro_f1")),
                   help="The mean of the seven per-class F1 scores: rare classes count fully.")
    before, after = m.get("ece_before"), m.get("ece_after")
    calibrated = isinstance(before, float) and isinstance(after, float)
    cols[2].metric("Calibration error (ECE)", f"{after:.3f}" if calibrated else "–",
                   delta=f"{after - before:+.3f} from {before:.3f}" if calibrated else None,
                   delta_color="inverse",
                   help=f"Expected calibration error after temperature scaling (T = "
                        f"{card.get('temperature', 1.0):.2f}, fitted on PublicTest); the "
                        "change is from the raw network.")
    cols[3].metric("FER+ majority accuracy", pct(m.get("ferplus_majority_accuracy")),
                   help="Accuracy against the FER+ crowd majority labels of PrivateTest.")
    recall, precision = m.get("per_class_recall", {}), m.get("per_class_precision", {})
    if recall:
        st.dataframe([{"emotion": f"{EMOJI[e]} {e}", "recall": pct(recall.get(e)),
                       "precision": pct(precision.get(e))} for e in EMOTIONS],
                     hide_index=True, width="content")
    inp = card.get("input", {})
    training = card.get("training", {})
    st.markdown(
        f"- **architecture** `{card.get('architecture', '?')}`, file {ui.file_label(path)}\n"
        f"- **input** {inp.get('size', '?')} px {inp.get('color', '')}, crop margin "
        f"{inp.get('crop_margin', '?')}, aligned by the eyes: {inp.get('align', '?')}\n"
        f"- **mirror-image averaging** (TTA): {card.get('tta_flip', False)}\n"
        f"- **trained on** {training.get('data', '?')}\n"
        f"- **date** {card.get('date', '?')}")


def style_card(path: Path, card: dict) -> None:
    styles = card.get("styles") or []
    if styles:
        st.dataframe([{"style": s.get("name"),
                       "emotion": f"{EMOJI[s['emotion']]} {s['emotion']}"
                       if s.get("emotion") in EMOJI else "",
                       "painting": s.get("title") or s.get("painting"),
                       "why": s.get("reason", "")} for s in styles],
                     hide_index=True, width="stretch")
    st.markdown(f"- **file** {ui.file_label(path)}")


def comparison() -> None:
    st.header("Architecture comparison")
    docs = engine.docs_dir()
    table = docs / "comparison.md" if docs else None
    # `emostyle compare --out docs/comparison/<name>` writes <name>/comparison.png
    plots = sorted((docs / "comparison").glob("*/comparison.png")) if docs else []
    if not (table and table.is_file()) and not plots:
        where = ("this checkout's docs/ holds none yet" if docs else
                 "they live in the source checkout's docs/, not in an installed package")
        st.info(f"No comparison table or plots to show: {where}. `emostyle compare` writes "
                "them.")
        return
    if table and table.is_file():
        st.markdown(table.read_text(encoding="utf-8"))
    for plot in plots:
        st.image(str(plot), caption=plot.parent.name.replace("_", " "))


def page() -> None:
    st.title("📊 Models")
    st.caption("Every model emostyle ships carries a card: how to prepare its input, and what "
               "it was measured to do.")
    cards = engine.model_cards()
    if not cards:
        st.warning("No bundled model cards found in this installation.")
    for path, card in cards:
        st.header(f"{card.get('name', path.stem)}")
        if card.get("summary"):
            st.caption(card["summary"])
        if card.get("styles"):
            style_card(path, card)
        elif card.get("labels"):
            emotion_card(path, card)
        with st.expander("The full card (JSON)"):
            st.code(json.dumps(card, indent=2, ensure_ascii=False), language="json")
    comparison()


ui.guarded(page)
