"""The emotion -> style catalogue: which painting's style repaints which mood.

A style model holds several styles (one conditional-instance-norm row each); its card lists them in
order with their painting and, for the bundled model, the emotion each one stands for and why.
A user can point emotions at other styles of the same model - or at a blend of them - with a TOML
file (``~/.config/emostyle/styles.toml``, ``$EMOSTYLE_STYLES``, or an explicit path)::

    # styles.toml
    [emotions]
    sad = "neutral"                           # the style named "neutral" (Vermeer) for sad faces
    angry = "vangogh_starry_night_1889"       # a style can also be named by its painting
    surprise = { surprise = 0.6, happy = 0.4 }  # or a blend of styles

Emotions the file does not mention keep the card's defaults. Nothing here imports torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emostyle.emotions import EMOTIONS, SYNONYMS
from emostyle.errors import InputError, ModelNotFoundError

ENV_VAR = "EMOSTYLE_STYLES"

# The ten public-domain paintings of the training set (file stem -> title).
PAINTINGS: dict[str, str] = {
    "munch_the_scream_1893": "Edvard Munch, The Scream (1893)",
    "vangogh_starry_night_1889": "Vincent van Gogh, The Starry Night (1889)",
    "turner_shipwreck_c1810": "J.M.W. Turner, The Wreck of a Transport Ship (c.1810)",
    "kandinsky_composition_vii_1913": "Wassily Kandinsky, Composition VII (1913)",
    "monet_water_lilies": "Claude Monet, Water Lilies (series)",
    "monet_woman_with_parasol_1886": "Claude Monet, Woman with a Parasol (1886)",
    "monet_cliff_walk_pourville_1882": "Claude Monet, The Cliff Walk at Pourville (1882)",
    "renoir_bal_du_moulin_de_la_galette_1876":
        "Pierre-Auguste Renoir, Bal du moulin de la Galette (1876)",
    "hokusai_great_wave_c1831": "Katsushika Hokusai, The Great Wave off Kanagawa (c.1831)",
    "vermeer_girl_with_pearl_earring_c1665":
        "Johannes Vermeer, Girl with a Pearl Earring (c.1665)",
}

# The bundled model's pairing: emotion -> (painting stem, why this painting carries this mood).
PAIRING: dict[str, tuple[str, str]] = {
    "angry": ("kandinsky_composition_vii_1913",
              "Kandinsky's most turbulent canvas - a deluge of colliding reds, blacks and "
              "jagged forms - reads as rage: energy with nowhere to go."),
    "disgust": ("turner_shipwreck_c1810",
                "Turner's churning, bilious green-brown sea is nausea made visible: disgust "
                "is the body recoiling, and this is seasickness in paint."),
    "fear": ("munch_the_scream_1893",
             "The canonical image of dread: a blood-red sky and a figure dissolving into "
             "its own panic."),
    "happy": ("renoir_bal_du_moulin_de_la_galette_1876",
              "A sunlit Sunday dance in Montmartre - dappled light, warm colours, people "
              "laughing together: joy without irony."),
    "sad": ("vangogh_starry_night_1889",
            "Painted from the asylum window at Saint-Remy: deep night blues and a village "
            "asleep under a restless sky - melancholy and longing."),
    "surprise": ("hokusai_great_wave_c1831",
                 "The instant before the wave breaks - a sudden, towering, arrested motion; "
                 "startle frozen in one frame."),
    "neutral": ("vermeer_girl_with_pearl_earring_c1665",
                "Vermeer's quiet, even light and restrained palette: a calm, attentive face "
                "that neither smiles nor frowns."),
}


def painting_stem(path: str | Path) -> str:
    return Path(path).stem


def describe_style(name: str, painting: str | Path) -> dict:
    """Card entry for a style: its name, painting, title, emotion (if any) and the reason."""
    stem = painting_stem(painting)
    emotion = SYNONYMS.get(name.lower(), name.lower())
    emotion = emotion if emotion in EMOTIONS else None
    reason = ""
    if emotion is not None and PAIRING.get(emotion, ("",))[0] == stem:
        reason = PAIRING[emotion][1]
    return {"name": name, "emotion": emotion, "painting": Path(painting).name,
            "title": PAINTINGS.get(stem, stem), "reason": reason}


def default_toml_path() -> Path | None:
    """``$EMOSTYLE_STYLES``, else ``$XDG_CONFIG_HOME/emostyle/styles.toml`` when it exists."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = base / "emostyle" / "styles.toml"
    return path if path.is_file() else None


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise InputError(f"{path}: reading TOML on Python 3.10 needs `pip install tomli`"
                             ) from None
    if not path.is_file():
        raise InputError(f"{path}: style override file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None


@dataclass(frozen=True)
class StyleCatalogue:
    """The styles of one model and the style weights each emotion stands for."""

    styles: tuple[dict, ...]  # card entries, in the model's order
    emotion_weights: dict[str, dict[str, float]]  # emotion -> {style name: weight}
    source: str = "card"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s["name"] for s in self.styles)

    @classmethod
    def from_card(cls, card: dict, override: str | Path | None = None) -> StyleCatalogue:
        """The card's styles and emotion map, with ``override`` (a TOML path) applied."""
        styles = tuple(card.get("styles") or ())
        if not styles:
            raise ModelNotFoundError("style model card lists no styles")
        names = [s["name"] for s in styles]
        mapping: dict[str, dict[str, float]] = {}
        for emotion, target in (card.get("emotion_styles") or {}).items():
            mapping[emotion] = {target: 1.0} if isinstance(target, str) else dict(target)
        for s in styles:  # a style named after an emotion is that emotion's default
            if s.get("emotion") and s["emotion"] not in mapping:
                mapping[s["emotion"]] = {s["name"]: 1.0}
        cat = cls(styles, mapping)
        for emotion, w in mapping.items():
            for style in w:
                if style not in names:
                    raise ModelNotFoundError(f"card maps {emotion} to unknown style {style!r}")
        if override is not None:
            cat = cat.with_override(Path(override))
        return cat

    def resolve_style(self, key: str, where: str = "") -> str:
        """A style name, painting file name or painting stem -> the style's name."""
        for s in self.styles:
            if key in (s["name"], s.get("painting"), painting_stem(s.get("painting", ""))):
                return s["name"]
        raise InputError(f"{where}unknown style {key!r}; this model has: "
                         f"{', '.join(self.names)}")

    def with_override(self, path: Path) -> StyleCatalogue:
        doc = _read_toml(path)
        table = doc.get("emotions", {})
        if not isinstance(table, dict):
            raise InputError(f"{path}: [emotions] must be a table of emotion = style")
        mapping = dict(self.emotion_weights)
        for key, value in table.items():
            emotion = SYNONYMS.get(key.strip().lower(), key.strip().lower())
            if emotion not in EMOTIONS:
                raise InputError(f"{path}: unknown emotion {key!r}; expected one of: "
                                 f"{', '.join(EMOTIONS)}")
            where = f"{path}: {key}: "
            if isinstance(value, str):
                mapping[emotion] = {self.resolve_style(value, where): 1.0}
            elif isinstance(value, dict) and value:
                blend: dict[str, float] = {}
                for style, w in value.items():
                    if not isinstance(w, (int, float)) or w < 0:
                        raise InputError(f"{where}weight of {style!r} must be a number >= 0")
                    name = self.resolve_style(style, where)
                    blend[name] = blend.get(name, 0.0) + float(w)
                if sum(blend.values()) <= 0:
                    raise InputError(f"{where}blend weights sum to 0")
                mapping[emotion] = blend
            else:
                raise InputError(f"{where}expected a style name or a table of style weights")
        return StyleCatalogue(self.styles, mapping, source=str(path))

    def vector(self, key: str) -> np.ndarray:
        """Style weights (S,) for an emotion (via the map) or a style name."""
        norm = SYNONYMS.get(key.strip().lower(), key.strip().lower())
        if norm in self.emotion_weights:
            return self._vector(self.emotion_weights[norm])
        if norm in EMOTIONS:
            raise InputError(f"this style model has no style for {norm!r}; map it in a "
                             f"styles.toml (styles: {', '.join(self.names)})")
        return self._vector({self.resolve_style(key): 1.0})

    def blend(self, weights: dict[str, float]) -> np.ndarray:
        """Style weights (S,) for ``{emotion or style: weight}``, normalised to sum 1."""
        if not weights:
            raise InputError("weights must name at least one emotion or style")
        total = np.zeros(len(self.styles), np.float64)
        for key, w in weights.items():
            w = float(w)
            if not np.isfinite(w) or w < 0:
                raise InputError(f"weight for {key!r} must be a finite number >= 0, got {w}")
            total += w * self.vector(key)
        if total.sum() <= 0:
            raise InputError("style weights sum to 0")
        return (total / total.sum()).astype(np.float32)

    def _vector(self, blend: dict[str, float]) -> np.ndarray:
        v = np.zeros(len(self.styles), np.float64)
        for name, w in blend.items():
            v[self.names.index(name)] += w
        return (v / v.sum()).astype(np.float32)

    def describe(self) -> list[tuple[str, str, str]]:
        """(emotion, style blend, painting title(s)) rows for ``emostyle info``-like output."""
        rows = []
        titles = {s["name"]: s.get("title", s["name"]) for s in self.styles}
        for emotion in EMOTIONS:
            blend = self.emotion_weights.get(emotion)
            if not blend:
                rows.append((emotion, "-", "-"))
                continue
            text = " + ".join(f"{n}" if len(blend) == 1 else f"{w:g} {n}"
                              for n, w in blend.items())
            rows.append((emotion, text, "; ".join(titles[n] for n in blend)))
        return rows
