"""The models page: what the bundled models are, how well they read emotions, and why.

Every figure is shown once, with ``st.image`` from a real file; markdown from ``docs/`` is
shown without its image links (they would be broken links in the app).
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from emostyle.app import engine, ui
from emostyle.emotions import EMOJI, EMOTIONS
from emostyle.tta import card_tta

TTA_WORDS = {"none": "none (the face crop alone)", "flip": "the crop and its mirror image",
             "flip+rotate": "the crop and its mirror image, each also turned 8 degrees either "
                            "way (six views)"}

# Figures of the source checkout's docs/, shown where they belong: (path in docs/, caption).
EMOTION_FIGURES = {
    "emotion_default": [
        ("figures/default_private_tta/confusion.png",
         "Which emotion the default model answers (columns) for each true emotion (rows), on "
         "the 3,589 PrivateTest faces: the diagonal is what it gets right."),
        ("figures/default_private_tta/reliability.png",
         "Calibration: of the faces given about 70%, about 70% are right. A point on the "
         "diagonal is a probability you can take at its word."),
    ],
}
STYLE_FIGURES = [("figures/style_contact_sheet.jpg",
                  "Each emotion's style on three photos (`emostyle stylize --emotion NAME`).")]
COMPARISON_FIGURES = [
    ("comparison/architectures/comparison.png",
     "14 architectures, each trained for the same 5 CPU-minutes: accuracy on PrivateTest."),
    ("comparison/balancing_vgg_small/comparison.png",
     "Class balancing on vgg_small (the default's architecture): rare emotions such as "
     "disgust are found far more often, for about a point of overall accuracy."),
    ("comparison/balancing_baseline_cnn/comparison.png",
     "Class balancing on the small baseline network: it has not learnt enough to gain."),
]


def pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "–"


def figures(items: list[tuple[str, str]]) -> None:
    """Each figure that this installation has, once; a line saying where they are if none."""
    found = [(path, caption) for rel, caption in items if (path := engine.docs_file(rel))]
    for path, caption in found:
        st.image(str(path), caption=caption)
    if items and not found:
        st.caption("The figures for this section are in the source repository's `docs/` "
                   "folder; an installed package does not carry them.")


def accuracy(card: dict) -> str:
    return pct(card.get("metrics", {}).get("private_accuracy"))


def choosing(cards: dict[str, dict]) -> None:
    """What the two emotion models are and which to pick, with the cards' own accuracy."""
    default, accurate = cards.get("emotion_default"), cards.get("emotion_accurate")
    lines = []
    if default:
        lines.append(f"- **default**: one small network ({default.get('summary', '')}). It "
                     f"names the emotion right on **{accuracy(default)}** of the test faces, "
                     "fast enough for video and the live mirror.")
    if accurate:
        n = len(accurate.get("members", [])) or "several"
        lines.append(f"- **accurate**: {n} networks read every face and their answers are "
                     f"averaged. Right on **{accuracy(accurate)}** of the same faces, and "
                     "several times slower (every network reads every face): choose it for "
                     "a photo that matters.")
    st.markdown(
        "emostyle finds each face, then a neural network trained by this project reads its "
        "expression as one of seven emotions: "
        + ", ".join(f"{EMOJI[e]} {e}" for e in EMOTIONS) + ".\n\n"
        "The models learnt from **FER2013**, 35,887 small grey face photos labelled with "
        "those emotions. *Accuracy* is the share of FER2013's **PrivateTest** faces (3,589, "
        "never used to train or to choose a model) whose emotion a model names correctly. "
        "People disagree about many of these faces too, so no model gets near 100%.\n\n"
        + "\n".join(lines)
        + "\n\nPick the model in the sidebar of the Photo page. Either way the percentages it "
        "shows are *calibrated*: a face read as \"happy 70%\" is right about 70% of the time. "
        "A face too small or unclear to read is marked *can't tell* instead.")


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
        st.caption("Per emotion: *recall* is the share of the faces showing it that the model "
                   "finds; *precision* the share of its answers of that emotion that are right.")
        st.dataframe([{"emotion": f"{EMOJI[e]} {e}", "recall": pct(recall.get(e)),
                       "precision": pct(precision.get(e))} for e in EMOTIONS],
                     hide_index=True, width="content")
    inp = card.get("input", {})
    if card.get("kind") == "ensemble":
        members = [m["file"] for m in card.get("members", []) if m.get("file")]
        made = ("- **networks averaged** " + ", ".join(f"`{Path(f).stem}`" for f in members)
                + f"\n- **files** {path.name}, naming {len(members)} network files of "
                f"{card.get('bytes', 0) / 1e6:.1f} MB in all")
    else:
        made = (f"- **architecture** `{card.get('architecture', '?')}`\n"
                f"- **trained on** {card.get('training', {}).get('data', '?')}\n"
                f"- **file** {ui.file_label(path)}")
    st.markdown(
        f"{made}\n"
        f"- **input** {inp.get('size', '?')} px {inp.get('color', '')}, crop margin "
        f"{inp.get('crop_margin', '?')}, aligned by the eyes: {inp.get('align', '?')}\n"
        f"- **test-time views averaged** (TTA): {TTA_WORDS[card_tta(card)]}\n"
        f"- **date** {card.get('date', '?')}")
    figures(EMOTION_FIGURES.get(card.get("name", ""), []))


def style_card(path: Path, card: dict, companions: list[tuple[Path, dict]]) -> None:
    st.markdown("The painting network: one network that paints a photo in the style of a "
                "painting chosen for each emotion.")
    styles = card.get("styles") or []
    if styles:
        st.dataframe([{"style": s.get("name"),
                       "emotion": f"{EMOJI[s['emotion']]} {s['emotion']}"
                       if s.get("emotion") in EMOJI else "",
                       "painting": s.get("title") or s.get("painting"),
                       "why": s.get("reason", "")} for s in styles],
                     hide_index=True, width="stretch")
    lines = [f"- **file** {ui.file_label(path)}"]
    lines += [f"- {c.get('summary') or p.stem}: {ui.file_label(p)}" for p, c in companions]
    st.markdown("\n".join(lines))
    figures(STYLE_FIGURES)


def comparison() -> None:
    st.header("Architecture comparison")
    st.markdown(
        "Why the default is a small VGG-style network: before training it, the project gave "
        "14 designs the same small budget (5 CPU-minutes each) and measured each on "
        "PrivateTest. Of the networks that read the face's pixels, which is what emostyle "
        "ships, the small VGG-style one learnt the most in that time; a model of face "
        "landmarks scored a point higher but needs MediaPipe to run, and the large "
        "ImageNet-scale networks could not finish one pass over the data. The balancing runs "
        "show what giving the rare emotions more weight buys (disgust is 1.5% of the "
        "training faces). These are short runs for comparison; the shipped models trained "
        "for much longer, hence their higher accuracy above.")
    figures(COMPARISON_FIGURES)
    table = engine.docs_file("comparison.md")
    if table is not None:
        with st.expander("The full comparison: every run, and how to reproduce it"):
            text = table.read_text(encoding="utf-8")
            if text.startswith("# "):  # the expander's label is its title
                text = text.split("\n", 1)[-1]
            st.markdown(engine.page_markdown(text))


def page() -> None:
    st.title("📊 Models")
    cards = engine.model_cards()
    if not cards:
        st.warning("No bundled model cards found in this installation.")
        return
    # the default first: it is what most people use, and what the others are compared with
    cards = sorted(cards, key=lambda pc: pc[1].get("name") != "emotion_default")
    by_name = {card.get("name", path.stem): card for path, card in cards}
    choosing(by_name)
    companions = [(p, c) for p, c in cards if "companion of" in (c.get("summary") or "")]
    for path, card in cards:
        if (path, card) in companions:
            continue
        st.header(f"{card.get('name', path.stem)}")
        if card.get("summary"):
            st.caption(card["summary"])
        if card.get("styles"):
            style_card(path, card, companions)
        elif card.get("labels"):
            emotion_card(path, card)
        with st.expander("The full card (JSON)"):
            st.code(json.dumps(card, indent=2, ensure_ascii=False), language="json")
    comparison()


ui.guarded(page)
