"""The demo corpus: English read speech made offline by speech synthesisers, force-aligned.

The toolkit's examples, tests and CI need speech from many speakers with known word and phone
times, and nothing may be downloaded. This module writes such a corpus from scratch:

* **Text** comes from a small grammar of everyday sentences over about 300 ordinary words, all
  in the CMU dictionary that pocketsphinx ships, so the same words and phone n-grams recur many
  times in every voice (the benchmark needs phone sequences that recur across speakers).
* **Speakers** are synthesiser voices (espeak-ng variants, flite, festival). Each has its own
  habitual tempo and pitch, shifted a little per chapter (a reading session) and per utterance.
* **Audio** is 16 kHz mono OGG Vorbis, one utterance a file, with 0.2-0.5 s of leading and
  trailing silence that carries a low noise floor (no digital silence anywhere).
* **Alignments** come from :mod:`utils.demo.forced_alignment` run on the decoded OGG file, so the
  times describe exactly what is on disk. Utterances that fail to align are re-made with the
  next seed; after ``max_attempts`` failures they are dropped (and counted).

Layout under the output folder (LibriSpeech-like, ``SPEAKER-CHAPTER-UTTERANCE``)::

    train/<speaker>/<speaker>-<chapter>-<utterance:04d>.ogg   training voices
    dev/<speaker>/...                                         held-out voices
    alignments.txt   transcripts.txt   SPEAKERS.txt   README.md

Everything is a function of the seed: the same seed gives byte-identical files, whatever the
number of parallel jobs.
"""
from __future__ import annotations

import concurrent.futures
import io
import logging
import math
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile

from sse.core.errors import UserError
from sse.core.files import atomic_open
from sse.core.progress import tqdm
from sse.frames.audio import SAMPLE_RATE, read_audio
from sse.frames.formats import format_time
from sse.prep.alignments import Alignments, FileAlignment, write_alignment_file

from .forced_alignment import AlignmentError, align

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------
# Spellings are the ones common to British and American English, so every voice reads the
# same word; nouns are concrete and verbs are in the past tense, like a children's reader.

#: Who can act: people and animals (subjects, and objects of the character verbs).
CHARACTERS = (
    "man woman child farmer teacher doctor sailor painter baker driver student neighbor girl "
    "boy friend king queen captain soldier dog cat horse bird"
).split()
THINGS = (
    "letter basket bottle apple orange bread coffee candle picture hat coat shirt ball box key "
    "clock lamp paper pencil book flower stone coin egg cup shoe chair table window door"
).split()
PLACES = (
    "house garden river market kitchen village city forest mountain island road bridge station "
    "school library office shop boat train car ship field valley castle tower wall street "
    "corner hill lake beach"
).split()
PLURAL_THINGS = (
    "apples letters boxes birds horses books candles flowers stones coins eggs cups shoes "
    "chairs boats pictures keys baskets bottles"
).split()
#: Adjectives that suit characters, and adjectives that suit things and places.
CHARACTER_ADJECTIVES = (
    "old young little tall short happy quiet busy clever kind brave tired hungry famous "
    "strange beautiful lonely careful gentle noisy"
).split()
THING_ADJECTIVES = (
    "old little big small green red blue yellow white black brown heavy empty warm cold dark "
    "bright famous strange beautiful quiet noisy simple wooden golden silver narrow ancient modern"
).split()
#: Verbs whose object is a thing, and verbs whose object is a character.
THING_VERBS = (
    "found carried opened closed painted cleaned bought sold brought lost wanted needed pushed "
    "pulled washed kept held dropped fixed filled counted touched showed took made"
).split()
CHARACTER_VERBS = (
    "watched followed helped called answered remembered noticed loved liked visited met"
).split()
INTRANSITIVE_VERBS = (
    "walked ran waited stayed slept sat stood worked lived danced jumped played returned "
    "arrived hurried laughed rested swam sang"
).split()
PREPOSITIONS = (
    "to from near behind under over beside inside across along towards past into through "
    "around beyond at on in"
).split()
DETERMINERS = "the a this that every my his her our their".split()
NAMES = (
    "mary john peter anna susan david emma thomas helen james sarah robert paul lucy george alice"
).split()
PRONOUNS = "he she they we i".split()
SINGULAR_PRONOUNS = "he she".split()
NUMBERS = "two three four five six seven eight nine ten twelve twenty".split()
ADVERBS = "slowly quickly quietly carefully again together early soon happily suddenly".split()
TIME_PHRASES = (
    "in the morning", "in the evening", "at night", "after dinner", "before lunch",
    "on monday", "on friday", "on sunday", "last summer", "in the winter", "every day",
    "next week", "yesterday", "today", "later", "at noon",
)

#: (weight, template): ``{slot}`` is filled by the phrase maker of that name, the rest is literal.
TEMPLATES = (
    (3, "{subject} {thing_verb} {thing} {place} {time}"),
    (3, "{subject} {thing_verb} {thing} {place}"),
    (2, "{subject} {character_verb} {character} {place}"),
    (2, "{time} {subject} {intransitive} {place}"),
    (2, "{subject} {intransitive} {adverb} {place}"),
    (1, "{subject} {thing_verb} {thing} and then {character_verb} {character}"),
    (1, "{name} said that {subject} {thing_verb} {thing} {place}"),
    (1, "{name} knew that {singular_subject} was {character_adjective} {time}"),
    (1, "there was {indefinite_thing} {place}"),
    (1, "{subject} {intransitive} {place} because {singular_pronoun} was {character_adjective}"),
    (1, "{subject} {thing_verb} {number} {plural} {place}"),
    (1, "{name} and {name} {intransitive} {place} together"),
    (1, "{singular_subject} was {character_adjective} but {subject} {intransitive} {place} {time}"),
    (1, "{name} told {name} that the {thing} was {thing_adjective}"),
)


def _choice(rng: np.random.Generator, words: list[str] | tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _with_article(determiner: str, phrase: str) -> str:
    # The vocabulary avoids words like "hour" or "unit" whose spelling misleads this rule.
    if determiner == "a" and phrase[0] in "aeiou":
        determiner = "an"
    return f"{determiner} {phrase}"


def _noun_phrase(rng: np.random.Generator, nouns: list[str], adjectives: list[str],
                 determiners=DETERMINERS) -> str:
    noun = _choice(rng, nouns)
    if rng.random() < 0.5:
        noun = f"{_choice(rng, adjectives)} {noun}"
    return _with_article(_choice(rng, determiners), noun)


class _Sentence:
    """Phrase makers for the slots of one sentence; names are not repeated within it."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.names_left = list(NAMES)

    def name(self) -> str:
        return self.names_left.pop(int(self.rng.integers(len(self.names_left))))

    def subject(self, pronouns: tuple[str, ...] | list[str] = PRONOUNS) -> str:
        draw = self.rng.random()
        if draw < 0.55:
            return _noun_phrase(self.rng, CHARACTERS, CHARACTER_ADJECTIVES)
        return self.name() if draw < 0.8 else _choice(self.rng, pronouns)

    def singular_subject(self) -> str:
        return self.subject(SINGULAR_PRONOUNS)

    def character(self) -> str:
        if self.rng.random() < 0.3:
            return self.name()
        return _noun_phrase(self.rng, CHARACTERS, CHARACTER_ADJECTIVES)

    def thing(self) -> str:
        return _noun_phrase(self.rng, THINGS, THING_ADJECTIVES)

    def indefinite_thing(self) -> str:
        return _noun_phrase(self.rng, THINGS, THING_ADJECTIVES, determiners=("a",))

    def place(self) -> str:
        preposition = _choice(self.rng, PREPOSITIONS)
        return f"{preposition} {_noun_phrase(self.rng, PLACES, THING_ADJECTIVES)}"

    def plural(self) -> str:
        plural = _choice(self.rng, PLURAL_THINGS)
        if self.rng.random() < 0.4:
            return f"{_choice(self.rng, THING_ADJECTIVES)} {plural}"
        return plural

    def time(self) -> str:
        return _choice(self.rng, TIME_PHRASES)

    def thing_verb(self) -> str:
        return _choice(self.rng, THING_VERBS)

    def character_verb(self) -> str:
        return _choice(self.rng, CHARACTER_VERBS)

    def intransitive(self) -> str:
        return _choice(self.rng, INTRANSITIVE_VERBS)

    def adverb(self) -> str:
        return _choice(self.rng, ADVERBS)

    def character_adjective(self) -> str:
        return _choice(self.rng, CHARACTER_ADJECTIVES)

    def thing_adjective(self) -> str:
        return _choice(self.rng, THING_ADJECTIVES)

    def singular_pronoun(self) -> str:
        return _choice(self.rng, SINGULAR_PRONOUNS)

    def number(self) -> str:
        return _choice(self.rng, NUMBERS)


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence of the grammar, lower case, words separated by single spaces."""
    weights = np.array([weight for weight, _ in TEMPLATES], dtype=float)
    template = TEMPLATES[int(rng.choice(len(TEMPLATES), p=weights / weights.sum()))][1]
    sentence = _Sentence(rng)
    # Slots are filled left to right, each on its own, so "{name} and {name}" names two people.
    for slot in _slots(template):
        template = template.replace("{" + slot + "}", getattr(sentence, slot)(), 1)
    return template


def _slots(template: str) -> list[str]:
    return [part.split("}")[0] for part in template.split("{")[1:]]


def vocabulary() -> set[str]:
    """Every word :func:`make_sentence` can produce."""
    words = set(CHARACTERS + THINGS + PLACES + PLURAL_THINGS + CHARACTER_ADJECTIVES
                + THING_ADJECTIVES + THING_VERBS
                + CHARACTER_VERBS + INTRANSITIVE_VERBS + PREPOSITIONS + DETERMINERS + NAMES
                + PRONOUNS + NUMBERS + ADVERBS + ["an"])
    words.update(word for phrase in TIME_PHRASES for word in phrase.split())
    for _, template in TEMPLATES:
        words.update(word for word in template.split() if not word.startswith("{"))
    return words


# --------------------------------------------------------------------------------------------
# Voices and synthesis
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: a synthesiser voice with its own habitual tempo and pitch."""

    speaker: str       # numeric speaker id, the first field of the file names
    synthesiser: str   # "espeak-ng", "flite" or "festival"
    name: str          # the synthesiser's name for the voice
    held_out: bool     # True: dev split (evaluation), False: train split
    tempo: float = 1.0  # speaking rate relative to the synthesiser's default (>1 is faster)
    pitch: float = 1.0  # mean pitch relative to the voice's default

    @property
    def split(self) -> str:
        return "dev" if self.held_out else "train"


#: The corpus's speakers. flite's kal (8 kHz) and festival's kal_diphone and
#: cmu_us_slt_arctic_hts are left out: they are the same people as flite's kal16 and slt.
VOICES = (
    Voice("1001", "espeak-ng", "en-us+m3", False, 1.00, 1.00),
    Voice("1002", "espeak-ng", "en-us+f2", False, 0.92, 1.05),
    Voice("1003", "espeak-ng", "en-gb-x-rp+m1", False, 1.06, 0.95),
    Voice("1004", "espeak-ng", "en-gb-x-rp+f3", False, 0.97, 0.96),
    Voice("1005", "espeak-ng", "en-gb-scotland+m5", False, 0.90, 1.08),
    Voice("1006", "espeak-ng", "en-029+m2", False, 1.04, 0.92),
    Voice("1007", "espeak-ng", "en-us+klatt", False, 0.95, 1.10),
    Voice("1008", "espeak-ng", "en-gb-x-gbcwmd+f1", False, 1.08, 1.00),
    Voice("1009", "flite", "kal16", False, 1.00, 1.00),
    Voice("1010", "flite", "rms", False, 0.95, 1.00),
    Voice("1011", "flite", "slt", False, 1.05, 0.95),
    Voice("1012", "festival", "ked_diphone", False, 1.00, 1.05),
    Voice("1013", "espeak-ng", "en-gb-x-gbclan+m7", True, 0.96, 1.00),
    Voice("1014", "espeak-ng", "en-us+f4", True, 1.03, 1.04),
    Voice("1015", "espeak-ng", "en-gb-scotland+f4", True, 0.94, 0.97),
    Voice("1016", "flite", "awb", True, 1.00, 0.97),
)

#: espeak-ng's default speaking rate (words per minute, its ``-s``).
ESPEAK_WPM = 175
#: espeak-ng's ``-p`` (0-99, default 50) moves the mean pitch by about 0.9 % a step
#: (measured on en-us+m3: -p 20, 50, 80 gave 83, 107, 143 Hz).
ESPEAK_PITCH_PER_STEP = 0.0091
#: The mean f0 (Hz) each flite / festival voice aims at by default, measured on its output.
#: flite's rms ignores ``int_f0_target_mean``, so its pitch stays at its own.
DEFAULT_F0 = {"kal16": 95.0, "awb": 130.0, "slt": 170.0, "ked_diphone": 105.0}
#: festival's diphone voices stretch durations by 1.1 by default (set in their voice files).
FESTIVAL_DURATION_STRETCH = 1.1


def _synthesiser_command(voice: Voice, text: str, tempo: float, pitch: float,
                         wav_path: str) -> tuple[list[str], str | None]:
    """The command line (and its standard input) that writes ``text`` to ``wav_path``."""
    if voice.synthesiser == "espeak-ng":
        pitch_step = int(round(np.clip(50 + math.log(pitch) / ESPEAK_PITCH_PER_STEP, 0, 99)))
        return ["espeak-ng", "-v", voice.name, "-s", str(round(ESPEAK_WPM * tempo)),
                "-p", str(pitch_step), "-w", wav_path, text], None
    if voice.synthesiser == "flite":
        command = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / tempo:.4f}"]
        if voice.name in DEFAULT_F0:
            command += ["--setf", f"int_f0_target_mean={DEFAULT_F0[voice.name] * pitch:.1f}"]
        return command + ["-t", text, "-o", wav_path], None
    if voice.synthesiser == "festival":
        target_f0 = DEFAULT_F0[voice.name] * pitch
        scheme = (f"(begin (voice_{voice.name}) "
                  f"(Parameter.set 'Duration_Stretch {FESTIVAL_DURATION_STRETCH / tempo:.4f}) "
                  f"(set! int_lr_params '((target_f0_mean {target_f0:.1f}) (target_f0_std 15) "
                  f"(model_f0_mean 170) (model_f0_std 34))))")
        return ["text2wave", "-eval", scheme, "-o", wav_path], text
    raise ValueError(f"unknown synthesiser {voice.synthesiser!r}")


def synthesise(voice: Voice, text: str, tempo: float = 1.0, pitch: float = 1.0) -> np.ndarray:
    """``text`` spoken by ``voice`` as 16 kHz mono float32, as the synthesiser wrote it."""
    with tempfile.TemporaryDirectory(prefix="sse-synth-") as folder:
        wav_path = os.path.join(folder, "speech.wav")
        command, stdin = _synthesiser_command(voice, text, tempo, pitch, wav_path)
        finished = subprocess.run(command, input=stdin, text=True, capture_output=True)
        # festival reports errors ("SIOD ERROR: ...") on stderr but exits with status 0.
        if finished.returncode != 0 or "ERROR" in finished.stderr or not os.path.exists(wav_path):
            raise RuntimeError(f"{command[0]} failed on {text!r}: {finished.stderr.strip()}")
        return read_audio(wav_path)


#: Debian packages that provide each synthesiser's program and voices.
SYNTHESISER_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite",
                        "festival": "festival festvox-kdlpc16k"}


def _installed_voices(synthesiser: str) -> set[str] | None:
    """The voices a synthesiser offers, or None where it cannot be asked (espeak-ng)."""
    if synthesiser == "flite":
        listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        return set(listing.split(":", 1)[-1].split())
    if synthesiser == "festival":
        listing = subprocess.run(["festival", "-b", "(print (voice.list))"],
                                 capture_output=True, text=True).stdout
        return set(listing.strip("()\n ").split())
    return None


def check_voices(voices: Iterable[Voice] = VOICES) -> None:
    """Raise :class:`UserError` naming every voice that cannot be synthesised here, and why."""
    programs = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    problems = []
    for synthesiser in sorted({voice.synthesiser for voice in voices}):
        if shutil.which(programs[synthesiser]) is None:
            problems.append(f"{programs[synthesiser]} is not installed")
            continue
        wanted = sorted(voice.name for voice in voices if voice.synthesiser == synthesiser)
        installed = _installed_voices(synthesiser)
        if installed is None:  # espeak-ng: try each voice
            installed = set()
            for name in wanted:
                if subprocess.run(["espeak-ng", "-v", name, "-q", "test"],
                                  capture_output=True).returncode == 0:
                    installed.add(name)
        missing = [name for name in wanted if name not in installed]
        if missing:
            problems.append(f"{synthesiser} lacks voice(s) {', '.join(missing)}")
    if problems:
        packages = " ".join(SYNTHESISER_PACKAGES[voice.synthesiser] for voice in voices)
        raise UserError("cannot synthesise the demo corpus: " + "; ".join(problems)
                        + f" (Debian packages needed: {' '.join(dict.fromkeys(packages.split()))})")


# --------------------------------------------------------------------------------------------
# Shaping and encoding the audio
# --------------------------------------------------------------------------------------------

#: Peak level of the speech (-3 dBFS): headroom for the codec, whose output overshoots a little.
PEAK_LEVEL = 0.7
#: Standard deviation of the noise under everything, as a fraction of full scale (-60 dBFS):
#: enough that no stretch is digitally silent, which would break sub-word alignment.
NOISE_FLOOR = 1e-3
#: Silence added before and after the speech, seconds, drawn uniformly per utterance.
PADDING = (0.2, 0.5)
#: A synthesiser's own leading and trailing silence is cut where the signal stays this far
#: below its peak (dB); -50 dB keeps the weak release of a final stop or fricative.
TRIM_THRESHOLD_DB = -50.0
#: Speech kept on either side of the trim points, seconds (a conservative cut).
TRIM_MARGIN = 0.02


def speech_extent(samples: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample where the signal rises above :data:`TRIM_THRESHOLD_DB`."""
    threshold = np.max(np.abs(samples)) * 10 ** (TRIM_THRESHOLD_DB / 20)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        raise ValueError("the signal is silent")
    return int(loud[0]), int(loud[-1]) + 1


@dataclass(frozen=True)
class ShapedAudio:
    """Samples ready to encode, and where in them the synthesised speech lies."""

    samples: np.ndarray
    speech_start: float  # seconds: where the synthesised speech (trimmed) begins
    speech_end: float


def shape_utterance(raw: np.ndarray, rng: np.random.Generator) -> ShapedAudio:
    """Trim the synthesiser's silence, scale the peak, pad with silence and add the noise floor."""
    margin = int(TRIM_MARGIN * SAMPLE_RATE)
    first, last = speech_extent(raw)
    speech = raw[max(first - margin, 0):last + margin]
    speech = speech * (PEAK_LEVEL / np.max(np.abs(speech)))
    lead, trail = (int(rng.uniform(*PADDING) * SAMPLE_RATE) for _ in range(2))
    samples = np.concatenate([np.zeros(lead), speech, np.zeros(trail)])
    samples += NOISE_FLOOR * rng.standard_normal(len(samples))
    return ShapedAudio(samples.astype(np.float32), lead / SAMPLE_RATE,
                       (lead + len(speech)) / SAMPLE_RATE)


def _ogg_crc_table() -> list[int]:
    # Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not bit-reflected, initial value 0
    # (zlib's crc32 is the reflected variant and gives other values).
    table = []
    for byte in range(256):
        value = byte << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return table


_OGG_CRC_TABLE = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    value = 0
    for byte in data:
        value = ((value << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((value >> 24) ^ byte) & 0xFF]
    return value


def set_ogg_serial(data: bytes, serial: int) -> bytes:
    """``data`` (one logical Ogg stream) with its stream serial number set to ``serial``.

    libsndfile draws the serial number at random, the only thing that makes two encodings of
    the same signal differ; fixing it makes the corpus byte-for-byte reproducible.
    """
    out = bytearray(data)
    position = 0
    while position < len(out):
        if out[position:position + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {position}")
        segment_count = out[position + 26]
        body = sum(out[position + 27:position + 27 + segment_count])
        end = position + 27 + segment_count + body
        out[position + 14:position + 18] = struct.pack("<I", serial)
        out[position + 22:position + 26] = b"\0\0\0\0"
        out[position + 22:position + 26] = struct.pack("<I", _ogg_crc(out[position:end]))
        position = end
    return bytes(out)


def encode_ogg(samples: np.ndarray, serial: int = 0) -> bytes:
    """16 kHz mono OGG Vorbis (libvorbis' default quality, about 50 kbit/s here) of ``samples``."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    return set_ogg_serial(buffer.getvalue(), serial)


def decode_audio(data: bytes) -> np.ndarray:
    """Decode an in-memory audio file to float32 (it must be 16 kHz mono, as ours are)."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise ValueError(f"expected 16 kHz mono, decoded {rate} Hz with shape {samples.shape}")
    return samples


# --------------------------------------------------------------------------------------------
# Utterances
# --------------------------------------------------------------------------------------------

#: Utterances per chapter; a chapter is a reading session with its own tempo and pitch offset.
CHAPTER_SIZE = 25
#: Spread of the per-chapter and per-utterance tempo and pitch factors (uniform, around 1).
CHAPTER_TEMPO, CHAPTER_PITCH = 0.06, 0.05
UTTERANCE_TEMPO, UTTERANCE_PITCH = 0.12, 0.08
#: How far (seconds) an aligned word may spill into the silence padding before the alignment
#: is judged wrong: the padding is known, so a word there is a gross alignment error.
EXTENT_TOLERANCE = 0.1


@dataclass(frozen=True)
class UtteranceJob:
    """One utterance to make: which voice says it, and its number within that voice."""

    voice: Voice
    index: int   # the utterance's number within its speaker, from 0
    seed: int
    max_attempts: int

    @property
    def path(self) -> str:
        """The file's path relative to the corpus root."""
        chapter, number = divmod(self.index, CHAPTER_SIZE)
        speaker = self.voice.speaker
        return f"{self.voice.split}/{speaker}/{speaker}-{chapter + 1}-{number:04d}.ogg"


@dataclass(frozen=True)
class Utterance:
    """A made utterance: its OGG file, text and alignment, ready to be written."""

    path: str
    voice: Voice
    text: str
    audio: bytes          # the OGG file
    duration: float       # seconds
    alignment: FileAlignment
    failed_attempts: list[str]  # why earlier attempts were rejected


def _uniform_around_one(rng: np.random.Generator, spread: float) -> float:
    return float(rng.uniform(1 - spread, 1 + spread))


def _check_extent(alignment: FileAlignment, audio: ShapedAudio) -> None:
    if (alignment.words[0].start < audio.speech_start - EXTENT_TOLERANCE
            or alignment.words[-1].end > audio.speech_end + EXTENT_TOLERANCE):
        raise AlignmentError(
            f"words aligned over [{alignment.words[0].start:.2f}, {alignment.words[-1].end:.2f}] s "
            f"but the speech lies in [{audio.speech_start:.2f}, {audio.speech_end:.2f}] s")


def make_utterance(job: UtteranceJob) -> Utterance | list[str]:
    """Synthesise, encode and align one utterance; the failure reasons if every attempt failed.

    Attempt ``a`` draws its sentence, prosody, padding and noise from the seed
    ``(job.seed, speaker, index, a)``, so the result depends on nothing else.
    """
    speaker = int(job.voice.speaker)
    chapter_rng = np.random.default_rng([job.seed, speaker, job.index // CHAPTER_SIZE])
    chapter_tempo = _uniform_around_one(chapter_rng, CHAPTER_TEMPO)
    chapter_pitch = _uniform_around_one(chapter_rng, CHAPTER_PITCH)
    failures = []
    for attempt in range(job.max_attempts):
        rng = np.random.default_rng([job.seed, speaker, job.index, attempt])
        text = make_sentence(rng)
        tempo = job.voice.tempo * chapter_tempo * _uniform_around_one(rng, UTTERANCE_TEMPO)
        pitch = job.voice.pitch * chapter_pitch * _uniform_around_one(rng, UTTERANCE_PITCH)
        shaped = shape_utterance(synthesise(job.voice, text, tempo, pitch), rng)
        audio = encode_ogg(shaped.samples, serial=zlib.crc32(job.path.encode()))
        decoded = decode_audio(audio)
        try:
            alignment = align(decoded, text)
            _check_extent(alignment, shaped)
        except AlignmentError as error:
            failures.append(f"{job.path} attempt {attempt}: {text!r}: {error}")
            continue
        return Utterance(job.path, job.voice, text, audio, len(decoded) / SAMPLE_RATE,
                         alignment, failures)
    return failures


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

@dataclass
class CorpusSummary:
    """What :func:`generate_utterances` made, and what it had to give up."""

    utterances: list[Utterance]
    dropped: list[str]        # paths given up after every attempt failed
    retried: int              # utterances that needed more than one attempt
    seconds: dict[str, float]  # seconds of audio per speaker

    def minutes(self, split: str | None = None) -> float:
        """Minutes of audio (whole files) in ``split``, or in the corpus."""
        voices = {voice.speaker: voice for voice in VOICES}
        return sum(seconds for speaker, seconds in self.seconds.items()
                   if split is None or voices[speaker].split == split) / 60

    def speech_minutes(self, split: str | None = None) -> float:
        """Minutes from the first word's start to the last word's end, summed over files."""
        return sum(utterance.alignment.words[-1].end - utterance.alignment.words[0].start
                   for utterance in self.utterances
                   if split is None or utterance.voice.split == split) / 60


def _leave_interrupts_to_parent() -> None:
    # Ctrl-C reaches every process of the terminal's group; the parent alone reacts to it (by
    # shutting the pool down and removing its partial output), so workers print no tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def generate_utterances(seconds_per_voice: dict[str, float], seed: int, jobs: int,
                        max_attempts: int) -> CorpusSummary:
    """Make utterances for each voice until it has its share of seconds.

    Jobs go out in rounds of one utterance per unfinished voice, so each voice's utterances are
    made in order and the stopping point depends only on the seed, not on ``jobs``.
    """
    voices = [voice for voice in VOICES if voice.speaker in seconds_per_voice]
    made = {voice.speaker: 0.0 for voice in voices}
    next_index = {voice.speaker: 0 for voice in voices}
    summary = CorpusSummary([], [], 0, made)
    executor = (concurrent.futures.ProcessPoolExecutor(max_workers=jobs,
                                                       initializer=_leave_interrupts_to_parent)
                if jobs > 1 else None)
    parallel_map = executor.map if executor else map
    try:
        with tqdm(total=sum(seconds_per_voice.values()), desc="speech", dynamic_ncols=True,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"
                  ) as progress:
            while True:
                unfinished = [voice for voice in voices
                              if made[voice.speaker] < seconds_per_voice[voice.speaker]]
                if not unfinished:
                    break
                round_jobs = [UtteranceJob(voice, next_index[voice.speaker], seed, max_attempts)
                              for voice in unfinished]
                for job, result in zip(round_jobs, parallel_map(make_utterance, round_jobs)):
                    next_index[job.voice.speaker] += 1
                    if isinstance(result, list):
                        summary.dropped.append(job.path)
                        for reason in result:
                            logger.warning("alignment failed: %s", reason)
                        continue
                    for reason in result.failed_attempts:
                        logger.info("re-synthesised after alignment failure: %s", reason)
                    summary.retried += bool(result.failed_attempts)
                    summary.utterances.append(result)
                    # The last utterance of a voice overshoots its share; the bar counts shares
                    # (and stops at its total, which rounding errors could otherwise pass).
                    wanted = seconds_per_voice[job.voice.speaker] - made[job.voice.speaker]
                    progress.update(min(result.duration, wanted, progress.total - progress.n))
                    made[job.voice.speaker] += result.duration
    finally:
        if executor:
            executor.shutdown(cancel_futures=True)
    return summary


def _temporary_folder_beside(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))


def check_output_folder(out_dir: Path, overwrite: bool) -> None:
    """Refuse an output path that is a file, or a non-empty folder unless ``overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise UserError(f"{out_dir}: folder exists and is not empty (pass --overwrite to replace it)")


def build_corpus(out_dir: str | os.PathLike, seed: int = 0, minutes: float = 36.0,
                 dev_fraction: float = 0.27, jobs: int = 2, max_attempts: int = 3,
                 overwrite: bool = False) -> CorpusSummary:
    """Write the demo corpus to ``out_dir`` (layout in the module docstring).

    ``minutes`` of speech (silence padding included) are shared out equally among the voices
    of each split, ``dev_fraction`` of them going to the held-out voices. The corpus is built
    in a temporary folder beside ``out_dir`` and renamed onto it only when complete.
    """
    out_dir = Path(out_dir)
    if not minutes > 0:
        raise UserError(f"--minutes must be positive, got {minutes}")
    if not 0 < dev_fraction < 1:
        raise UserError(f"--dev-fraction must lie strictly between 0 and 1, got {dev_fraction}")
    if jobs < 1 or max_attempts < 1:
        raise UserError("--jobs and --max-attempts must be at least 1")
    check_output_folder(out_dir, overwrite)
    check_voices()

    dev_voices = [voice for voice in VOICES if voice.held_out]
    train_voices = [voice for voice in VOICES if not voice.held_out]
    seconds_per_voice = {voice.speaker: 60 * minutes * dev_fraction / len(dev_voices)
                         for voice in dev_voices}
    seconds_per_voice.update({voice.speaker: 60 * minutes * (1 - dev_fraction) / len(train_voices)
                              for voice in train_voices})

    building = _temporary_folder_beside(out_dir)
    try:
        summary = generate_utterances(seconds_per_voice, seed, jobs, max_attempts)
        if not summary.utterances:
            raise RuntimeError("no utterance could be aligned")
        _write_corpus(building, summary, seed, minutes, dev_fraction)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.chmod(building, 0o755)
        os.replace(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return summary


def _write_corpus(root: Path, summary: CorpusSummary, seed: int, minutes: float,
                  dev_fraction: float) -> None:
    for utterance in summary.utterances:
        path = root / utterance.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(utterance.audio)
    write_alignment_file(root / "alignments.txt", Alignments(
        {utterance.path: utterance.alignment for utterance in summary.utterances}))
    with atomic_open(root / "transcripts.txt", encoding="utf-8") as out:
        for utterance in sorted(summary.utterances, key=lambda item: item.path):
            out.write(f"{utterance.path} {utterance.text.upper()}\n")
    with atomic_open(root / "SPEAKERS.txt", encoding="utf-8") as out:
        out.write(speakers_table(summary))
    with atomic_open(root / "README.md", encoding="utf-8") as out:
        out.write(readme(summary, seed, minutes, dev_fraction))


def speakers_table(summary: CorpusSummary) -> str:
    """SPEAKERS.txt: one line per speaker after a comment line naming the columns."""
    lines = ["# speaker split synthesiser voice minutes"]
    for voice in VOICES:
        if voice.speaker in summary.seconds:
            lines.append(f"{voice.speaker} {voice.split} {voice.synthesiser} {voice.name} "
                         f"{summary.seconds[voice.speaker] / 60:.2f}")
    return "\n".join(lines) + "\n"


def readme(summary: CorpusSummary, seed: int, minutes: float, dev_fraction: float) -> str:
    """The corpus's README.md: what it is, how it was made, how to make it again."""
    counts = {split: sum(1 for utterance in summary.utterances if utterance.voice.split == split)
              for split in ("train", "dev")}
    voices = {split: [voice for voice in VOICES if voice.split == split] for split in ("train", "dev")}
    synthesisers = sorted({voice.synthesiser for voice in VOICES})
    first = min(summary.utterances, key=lambda utterance: utterance.path)
    example_phone = first.alignment.phones[0]
    example_line = (f"{first.path} phone {format_time(example_phone.start)} "
                    f"{format_time(example_phone.end)} {example_phone.label}")
    return f"""# Demo corpus: synthetic English read speech with forced alignments

A small speech corpus made offline for the `sse` toolkit's examples, tests and continuous
integration, with word and phone alignments.

- {len(summary.seconds)} synthetic speakers ({", ".join(synthesisers)}),
  {len(summary.utterances)} utterances, {summary.minutes():.1f} minutes.
- Generated by the project: no recorded speech and no text from any other corpus. It is
  distributed under the same licence as the toolkit.

| split | speakers | utterances | minutes of audio | minutes of speech |
|---|---|---|---|---|
| train | {len(voices["train"])} | {counts["train"]} | {summary.minutes("train"):.1f} | {summary.speech_minutes("train"):.1f} |
| dev (held-out voices) | {len(voices["dev"])} | {counts["dev"]} | {summary.minutes("dev"):.1f} | {summary.speech_minutes("dev"):.1f} |

Minutes of audio count whole files; minutes of speech run from the first word to the last.

## How it was made
- **Text**: sentences drawn from a small grammar (`utils/demo/corpus.py`) over about 300 common
  English words, all in the CMU pronouncing dictionary that pocketsphinx ships, so that words
  and phone sequences recur many times in every voice.
- **Speakers**: one synthesiser voice each (`SPEAKERS.txt`), each with its own habitual speaking
  rate and pitch, varied per chapter (a reading session of {CHAPTER_SIZE} utterances) and per
  utterance.
- **Audio**: 16 kHz mono OGG Vorbis, one utterance a file. The synthesiser's own silence is
  trimmed, the peak scaled to -3 dBFS, {PADDING[0]:g}-{PADDING[1]:g} s of silence added at each end,
  and Gaussian noise at -60 dBFS laid under everything (no digital silence).
- **Alignments**: pocketsphinx's US English model force-aligns the decoded OGG file with the
  text actually synthesised, so the times describe the audio on disk (10 ms resolution).
  An alignment whose words spill more than {EXTENT_TOLERANCE:g} s into the padding counts as a
  failure, and the utterance is synthesised again from the next seed; it is dropped after
  repeated failures. Here {summary.retried} utterance(s) were re-synthesised and
  {len(summary.dropped)} dropped.

## Files
- `train/<speaker>/<speaker>-<chapter>-<utterance>.ogg`: training voices;
  `dev/<speaker>/...`: held-out voices, for evaluation across unseen speakers.
- `alignments.txt`: `<path> word|phone <start> <end> <label>` per line, seconds, paths relative to
  this folder, silences left out. Words are lower case; phones are the dictionary's ARPAbet
  without stress digits, e.g. `{example_line}`.
- `transcripts.txt`: `<path> <TEXT>`, the words synthesised, upper case.
- `SPEAKERS.txt`: `<speaker> <split> <synthesiser> <voice> <minutes>`.

## Regenerating
Needs the Debian packages espeak-ng, flite, festival and festvox-kdlpc16k, and the Python
packages pocketsphinx, soundfile, soxr, numpy and tqdm. From the repository root:

    python utils/demo/make_demo_corpus.py OUT_DIR --seed {seed} --minutes {minutes:g} --dev-fraction {dev_fraction:g}

The output depends only on these options (and on the synthesiser and aligner versions): the
same seed gives byte-identical files whatever `--jobs` is.
"""
