"""The figures the README shows for the bundled models are the ones their cards and committed
result files hold. Numbers are read from the cards, never written here, so a retrained model
only needs its card, its evaluation and the README to agree."""

from __future__ import annotations

import json
import re

import pytest

from emostyle.emotions import EMOTIONS
from emostyle.model_files import BUNDLED_DIR

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EVAL = ROOT / "docs" / "figures" / "default_private_tta" / "metrics.json"


def card(name: str) -> dict:
    return json.loads((BUNDLED_DIR / f"{name}.json").read_text())


def table_row(first_cell: str) -> list[str]:
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(first_cell):
            return cells
    raise AssertionError(f"no README table row starting with {first_cell!r}")


def pct(p: float) -> str:
    return f"{100 * p:.2f}%"


def test_readme_model_table_matches_the_default_card():
    m = card("emotion_default")["metrics"]
    c = card("emotion_default")
    row = table_row("`default`")
    header = table_row("model")
    cell = dict(zip(header, row, strict=True))
    acc = cell["FER2013 PrivateTest acc."]
    shipped = m["private_accuracy_tta_flip"] if c["tta_flip"] else m["private_accuracy_no_tta"]
    assert m["private_accuracy"] == shipped  # the card's headline is the model as shipped
    assert acc.startswith(f"**{pct(m['private_accuracy'])}**"), acc
    assert f"{pct(m['private_accuracy_no_tta'])} without TTA" in acc
    assert cell["macro-F1"] == f"{m['private_macro_f1']:.3f}"
    assert cell["FER+ majority acc."] == (f"{pct(m['ferplus_majority_accuracy'])} "
                                          f"({m['ferplus_rows']:,} faces)")
    assert cell["ECE before -> after T"] == (f"{m['ece_before']:.3f} -> {m['ece_after']:.3f} "
                                             f"(T = {c['temperature']:.2f})")
    assert cell["size"] == f"{c['file']['bytes'] / 1e6:.1f} MB"
    assert ("flip TTA" in cell["what"]) == c["tta_flip"]
    assert (BUNDLED_DIR / c["file"]["name"]).stat().st_size == c["file"]["bytes"]


def test_readme_model_table_matches_the_accurate_card():
    c = card("emotion_accurate")
    m = c["metrics"]
    cell = dict(zip(table_row("model"), table_row("`accurate`"), strict=True))
    assert cell["FER2013 PrivateTest acc."] == f"**{pct(m['private_accuracy'])}**"
    assert cell["macro-F1"] == f"{m['private_macro_f1']:.3f}"
    assert cell["FER+ majority acc."] == (f"{pct(m['ferplus_majority_accuracy'])} "
                                          f"({m['ferplus_rows']:,} faces)")
    assert cell["ECE before -> after T"] == (f"{m['ece_before']:.3f} -> {m['ece_after']:.3f} "
                                             f"(T = {c['temperature']:.2f})")
    assert f"{len(c['members'])} members" in cell["what"]
    members = sum((BUNDLED_DIR / x["file"]).stat().st_size for x in c["members"])
    assert cell["size"] == f"{members / 1e6:.1f} MB" and c["bytes"] == members


def test_readme_recall_and_calibration_sentences_match_the_card():
    m = card("emotion_default")["metrics"]
    text = " ".join(README.split())
    recall = ", ".join(f"{e} {m['per_class_recall'][e]:.2f}" for e in EMOTIONS)
    assert recall in text
    assert f"expected calibration error {100 * m['ece_after']:.1f}% on PrivateTest" in text


def test_committed_evaluation_is_the_shipped_model_and_agrees_with_the_card():
    """docs/figures/default_private_tta/ is what `emostyle evaluate default --tta` wrote."""
    c = card("emotion_default")
    m, ev = c["metrics"], json.loads(EVAL.read_text())
    assert (ev["source"], ev["split"], ev["tta_flip"]) == ("default", "private", c["tta_flip"])
    assert ev["accuracy"] == pytest.approx(m["private_accuracy"], abs=1e-9)
    assert ev["macro_f1"] == pytest.approx(m["private_macro_f1"], abs=1e-9)
    for e in EMOTIONS:
        assert ev["per_class"][e]["recall"] == pytest.approx(m["per_class_recall"][e], abs=1e-9)
    cal = ev["calibration"]
    assert cal["temperature"] == pytest.approx(c["temperature"], abs=1e-6)
    assert cal["ece_before"] == pytest.approx(m["ece_before"], abs=1e-9)
    assert cal["ece_after"] == pytest.approx(m["ece_after"], abs=1e-9)
    for name in ("confusion.png", "reliability.png"):
        assert (EVAL.parent / name).stat().st_size > 5000
        assert f"docs/figures/default_private_tta/{name}" in README


def test_readme_reproduce_command_evaluates_with_tta():
    c = card("emotion_default")
    cmd = " ".join(README[README.index("Reproduce the default model"):].split("```")[1].split())
    assert c["training"]["command"] in cmd.replace("\\ ", "")
    evaluate = cmd[cmd.index("emostyle evaluate default"):]
    assert ("--tta" in evaluate) == c["tta_flip"]
    assert "--out docs/figures/default_private_tta" in evaluate


def test_readme_example_output_is_what_analyze_prints(face_model):
    import emostyle

    face = emostyle.analyze(ROOT / "examples" / "astronaut.jpg").faces[0]
    row = next(line for line in README.splitlines() if line.startswith("│ 1 "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[2] == face.emotion
    assert cells[4] == f"{face.confidence:.1%}"
    assert cells[1] == ", ".join(str(round(v)) for v in face.box)


def test_readme_and_styles_doc_pairing_is_the_cards():
    """README's pairing sentence and docs/styles.md's table name the card's paintings."""
    styles = {s["emotion"]: s["title"] for s in card("styles_default")["styles"]}
    text = " ".join(README.split())
    text = text[text.index("Pairing ("):text.index("The mood is the face probabilities")]
    pairs = re.findall(r"(\w+) - ([^,;]+), \*([^*]+)\*", text)
    assert {e for e, _, _ in pairs} == set(EMOTIONS)
    for emotion, artist, title in pairs:
        assert artist.lower() in styles[emotion].lower(), emotion
        assert f", {title}" in styles[emotion], emotion
    doc = (ROOT / "docs" / "styles.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \S+ \| ([^|]+) \|", doc, flags=re.M)
    table = {e: t.replace("*", "").strip() for e, t in rows if e in EMOTIONS}
    assert table == {e: t.replace("Saint-Remy", "Saint-Rémy") for e, t in styles.items()}
