import pytest

from emostyle.emotions import COLORS_BGR, EMOJI, EMOTIONS, canonical, index


def test_fer2013_order():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_every_emotion_has_an_emoji_and_a_colour():
    assert set(EMOJI) == set(EMOTIONS) == set(COLORS_BGR)
    assert len(set(EMOJI.values())) == 7


@pytest.mark.parametrize("name,expected", [("Anger", "angry"), ("happiness", "happy"),
                                           (" SAD ", "sad"), ("surprised", "surprise")])
def test_synonyms(name, expected):
    assert canonical(name) == expected


def test_unknown_emotion_names_the_valid_ones():
    with pytest.raises(ValueError, match="angry, disgust"):
        canonical("contempt")
    assert index("neutral") == 6
