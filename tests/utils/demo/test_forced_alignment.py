"""Forced alignment with pocketsphinx: times checked against speech whose position is known."""
import numpy as np
import pytest

from sse.core.errors import UserError
from sse.frames.audio import SAMPLE_RATE
from utils.demo.corpus import Voice, synthesise
from utils.demo.forced_alignment import AlignmentError, ForcedAligner, OutOfVocabularyError, align, normalise_text

FIRST_PHRASE = "the young teacher opened the window"
# Starts with a nasal, whose onset an energy threshold finds where a phonetician would put it
# (a stop's closure is silent, so its aligned start precedes the first energy by design).
SECOND_PHRASE = "mary walked to the market"
GAP = 0.4  # seconds of exact digital silence between the phrases

VOICES = [Voice("1", "espeak-ng", "en-us+m3", False), Voice("2", "flite", "slt", False)]


def speech_onset(samples: np.ndarray, relative_level: float = 0.05) -> float:
    """Seconds to the first 5 ms window whose RMS passes ``relative_level`` of the loudest."""
    window = int(0.005 * SAMPLE_RATE)
    envelope = np.sqrt(np.convolve(samples ** 2, np.ones(window) / window, mode="same"))
    return int(np.argmax(envelope > relative_level * envelope.max())) / SAMPLE_RATE


@pytest.fixture(scope="module", params=VOICES, ids=lambda voice: voice.name)
def two_phrases(request):
    """Two phrases synthesised separately and joined by a known gap, and where the second begins."""
    first = synthesise(request.param, FIRST_PHRASE)
    second = synthesise(request.param, SECOND_PHRASE)
    joined = np.concatenate([first, np.zeros(int(GAP * SAMPLE_RATE), np.float32), second])
    second_onset = len(first) / SAMPLE_RATE + GAP + speech_onset(second)
    return joined, second_onset


def test_second_phrase_starts_where_it_was_placed(two_phrases):
    samples, second_onset = two_phrases
    alignment = align(samples, f"{FIRST_PHRASE} {SECOND_PHRASE}")
    words = [word.label for word in alignment.words]
    assert words == f"{FIRST_PHRASE} {SECOND_PHRASE}".split()
    mary = alignment.words[len(FIRST_PHRASE.split())]
    assert abs(mary.start - second_onset) < 0.050
    # The gap is silence: the first phrase's last word ends before the second phrase begins.
    assert alignment.words[len(FIRST_PHRASE.split()) - 1].end <= mary.start - GAP / 2


def test_phones_tile_each_word_and_follow_the_dictionary(two_phrases):
    samples, _ = two_phrases
    alignment = align(samples, f"{FIRST_PHRASE} {SECOND_PHRASE}")
    dictionary = ForcedAligner()
    phones = iter(alignment.phones)
    for word in alignment.words:
        labels, position = [], word.start
        while position < word.end:
            phone = next(phones)
            assert phone.start == pytest.approx(position) and phone.end > phone.start
            labels.append(phone.label)
            position = phone.end
        assert position == pytest.approx(word.end)
        if word.label in ("window", "mary", "teacher"):  # words with a single pronunciation
            assert labels == dictionary.pronunciation(word.label)
    assert next(phones, None) is None
    assert all(0 <= phone.start and phone.end <= len(samples) / SAMPLE_RATE
               for phone in alignment.phones)


def test_alignment_does_not_depend_on_earlier_utterances(two_phrases):
    samples, _ = two_phrases
    text = f"{FIRST_PHRASE} {SECOND_PHRASE}"
    other = synthesise(Voice("3", "espeak-ng", "en-gb-scotland+f4", False), "a brave sailor sang")
    aligner = ForcedAligner()
    alone = aligner.align(samples, text)
    for _ in range(3):
        aligner.align(other, "a brave sailor sang")
    assert aligner.align(samples, text) == alone


def test_digital_silence_around_the_speech_is_handled():
    # pocketsphinx alone fails on this input ("Failed to set up sub-word alignment"): the
    # aligner's noise floor is what lets it through.
    speech = synthesise(Voice("4", "espeak-ng", "en-gb-x-rp", False), "the dog ran home")
    silence = np.zeros(int(0.25 * SAMPLE_RATE), np.float32)
    alignment = align(np.concatenate([silence, speech, silence]), "the dog ran home")
    assert [word.label for word in alignment.words] == ["the", "dog", "ran", "home"]
    assert alignment.words[0].start >= 0.25 - 0.05


def test_words_missing_from_the_dictionary_are_named():
    samples = synthesise(VOICES[0], "the dog ran home")
    with pytest.raises(OutOfVocabularyError) as raised:
        align(samples, "the zorblax dog ran home quuxify zorblax")
    assert raised.value.words == ["zorblax", "quuxify"]
    assert "zorblax quuxify" in str(raised.value)
    assert isinstance(raised.value, UserError)


@pytest.mark.parametrize("text", ["", " ... "])
def test_text_without_words_is_refused(text):
    with pytest.raises(AlignmentError, match="no words"):
        align(np.zeros(SAMPLE_RATE, np.float32), text)


def test_stereo_audio_is_refused():
    with pytest.raises(AlignmentError, match="mono"):
        align(np.zeros((SAMPLE_RATE, 2), np.float32), "hello")


def test_text_is_matched_case_insensitively_without_outer_punctuation():
    assert normalise_text('Mary, "walked" to the MARKET.') == "mary walked to the market".split()
    assert normalise_text("don't stop") == ["don't", "stop"]
