"""Forced alignment of English read speech with pocketsphinx's bundled US English model.

Given 16 kHz mono audio and the words spoken, :func:`align` returns where each word and each
of its phones lie, as :class:`sse.prep.alignments.FileAlignment` (times in seconds, silences left
out, phones in the ARPAbet of the CMU dictionary that pocketsphinx ships, without stress digits).

pocketsphinx aligns in two passes over the same audio: a word-level pass constrained to the
text, then a state-level pass inside the word boundaries it found. Times are in its 10 ms
frames, so boundaries have a 10 ms resolution.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from sse.core.errors import UserError
from sse.frames.audio import SAMPLE_RATE
from sse.prep.alignments import FileAlignment, Interval

#: pocketsphinx's frame rate (frames per second); its alignments count in these frames.
FRAME_RATE = 100

#: Standard deviation of the noise added before aligning, as a fraction of full scale.
#: Exact digital silence (runs of zeros, as espeak-ng writes between phrases) makes
#: pocketsphinx's state-level pass fail ("Failed to set up sub-word alignment"); a floor
#: about 60 dB below full scale prevents that and is far too weak to move a boundary.
NOISE_FLOOR = 1e-3

#: Level to which the signal's peak is scaled before it is quantised to 16 bits, so quiet
#: recordings keep their resolution and the noise floor stays in proportion to the speech.
ALIGNMENT_PEAK = 0.5

#: Characters stripped from both ends of each word of the text (punctuation of a transcript).
_PUNCTUATION = ".,;:!?\"()[]{}"
#: pocketsphinx names a word's alternative pronunciations ``word(2)``, ``word(3)``...
_ALTERNATIVE = re.compile(r"\(\d+\)$")


class AlignmentError(UserError):
    """The audio could not be aligned with the text."""


class OutOfVocabularyError(AlignmentError):
    """The text has words that the pronunciation dictionary lacks."""

    def __init__(self, words: list[str]) -> None:
        super().__init__(f"{len(words)} word(s) not in the pronunciation dictionary: "
                         + " ".join(words))
        self.words = words


def _is_filler(name: str) -> bool:
    """Silence and noise entries: ``<sil>``, ``<s>``, ``[NOISE]``, ``+SPN+``, ``SIL``..."""
    return name.startswith(("<", "[", "+")) or name == "SIL"


def normalise_text(text: str) -> list[str]:
    """The words of ``text`` as the dictionary spells them: lower case, outer punctuation gone."""
    words = [token.strip(_PUNCTUATION).lower() for token in text.split()]
    return [word for word in words if word]


class ForcedAligner:
    """A pocketsphinx decoder kept loaded (loading the model takes a noticeable fraction of a
    second) to align many utterances in turn. Not thread-safe: one per thread or process."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # noqa: PLC0415  (only alignment needs pocketsphinx)

        # bestpath=False: the lattice rescoring of the normal search has no role in alignment.
        # loglevel FATAL: failures are reported through exceptions, not the C library's log.
        self._decoder = Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL")

    def missing_words(self, words: list[str]) -> list[str]:
        """The words (each once, in order) that the pronunciation dictionary lacks."""
        return [word for word in dict.fromkeys(words)
                if self._decoder.lookup_word(word.lower()) is None]

    def pronunciation(self, word: str) -> list[str] | None:
        """The dictionary's first pronunciation of ``word`` as a list of phones, or None."""
        phones = self._decoder.lookup_word(word.lower())
        return None if phones is None else phones.split()

    def align(self, samples: np.ndarray, text: str) -> FileAlignment:
        """Word and phone intervals of ``text`` spoken in ``samples`` (16 kHz mono float).

        Raises :class:`OutOfVocabularyError` naming the words the dictionary lacks, and
        :class:`AlignmentError` when pocketsphinx cannot fit the text to the audio.
        """
        words = normalise_text(text)
        if not words:
            raise AlignmentError("nothing to align: the text has no words")
        missing = self.missing_words(words)
        if missing:
            raise OutOfVocabularyError(missing)
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise AlignmentError(f"expected mono audio (one dimension), got shape {samples.shape}")
        pcm = _to_pcm16(samples)

        decoder = self._decoder
        try:
            decoder.set_align_text(" ".join(words))
            self._pass(pcm)
            decoder.set_alignment()
            self._pass(pcm)
            alignment = decoder.get_alignment()
        except RuntimeError as error:
            raise AlignmentError(f"pocketsphinx could not align {len(samples) / SAMPLE_RATE:.2f} s "
                                 f"of audio with {len(words)} words ({error})") from None
        if alignment is None:
            raise AlignmentError("pocketsphinx produced no alignment")

        word_intervals, phone_intervals = [], []
        for word in alignment:
            if _is_filler(word.name):
                continue
            word_intervals.append(_interval(word.start, word.duration,
                                            _ALTERNATIVE.sub("", word.name)))
            phone_intervals.extend(_interval(phone.start, phone.duration, phone.name)
                                   for phone in word if not _is_filler(phone.name))
        aligned_words = [interval.label for interval in word_intervals]
        if aligned_words != words:
            raise AlignmentError(f"the alignment has words {' '.join(aligned_words)!r}, "
                                 f"expected {' '.join(words)!r}")
        return FileAlignment(word_intervals, phone_intervals)

    def _pass(self, pcm: bytes) -> None:
        # The feature front end keeps state between utterances (its noise estimate, at least),
        # which made an utterance's alignment depend on what was aligned before it; starting
        # every pass from a fresh front end makes each alignment a function of its own input.
        self._decoder.reinit_feat()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()


def _to_pcm16(samples: np.ndarray) -> bytes:
    """Peak-scaled, noise-floored 16-bit PCM bytes, the input pocketsphinx expects."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if not np.isfinite(peak):
        raise AlignmentError("the audio contains NaN or infinite samples")
    scaled = samples * (ALIGNMENT_PEAK / peak) if peak > 0 else samples
    # A fixed seed keeps alignment a pure function of (audio, text).
    noise = np.random.default_rng(0).standard_normal(len(scaled)).astype(np.float32)
    floored = scaled + NOISE_FLOOR * noise
    return (np.clip(floored, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _interval(start_frame: int, frame_count: int, label: str) -> Interval:
    return Interval(start_frame / FRAME_RATE, (start_frame + frame_count) / FRAME_RATE, label)


@functools.lru_cache(maxsize=1)
def default_aligner() -> ForcedAligner:
    """The process's shared :class:`ForcedAligner`, loaded on first use."""
    return ForcedAligner()


def align(samples: np.ndarray, text: str) -> FileAlignment:
    """Force-align ``text`` to ``samples`` (16 kHz mono float32) with the shared aligner.

    Words are matched to the CMU pronunciation dictionary case-insensitively, outer punctuation
    ignored; silences and fillers are left out of the result.
    """
    return default_aligner().align(samples, text)
