"""The demo corpus: its generator (grammar, audio encoding, output contract) and the bundled copy."""
import collections
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from sse.core.errors import UserError
from sse.frames.audio import SAMPLE_RATE, find_audio_files
from sse.prep.alignments import read_alignment_file
from tests.helpers import REPO
from utils.demo import corpus as demo_corpus
from utils.demo.corpus import (
    VOICES,
    UtteranceJob,
    build_corpus,
    decode_audio,
    encode_ogg,
    make_sentence,
    make_utterance,
    vocabulary,
)
from utils.demo.forced_alignment import ForcedAligner

DEMO = REPO / "training_data" / "demo"
SCRIPT = REPO / "utils" / "demo" / "make_demo_corpus.py"
FILE_NAME = re.compile(r"^(train|dev)/(\d+)/(\d+)-(\d+)-(\d{4})\.ogg$")


# --- the grammar ------------------------------------------------------------------------------

def test_every_word_of_the_grammar_is_in_the_pronunciation_dictionary():
    words = sorted(vocabulary())
    assert 250 <= len(words) <= 400
    assert ForcedAligner().missing_words(words) == []


def test_sentences_are_reproducible_and_use_only_the_vocabulary():
    first = [make_sentence(np.random.default_rng([7, n])) for n in range(300)]
    again = [make_sentence(np.random.default_rng([7, n])) for n in range(300)]
    assert first == again
    assert len(set(first)) > 290
    words = [word for sentence in first for word in sentence.split()]
    assert set(words) <= vocabulary()
    assert 5 <= min(len(sentence.split()) for sentence in first)
    assert max(len(sentence.split()) for sentence in first) <= 20
    # Recurrence is the point: the commonest content words come back many times.
    counts = collections.Counter(words)
    assert sum(count >= 10 for count in counts.values()) >= 40


def test_articles_agree_with_the_pronunciation_of_the_next_word():
    aligner = ForcedAligner()
    vowels = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY",
              "UH", "UW"}
    pairs = set()
    for n in range(400):
        words = make_sentence(np.random.default_rng(n)).split()
        pairs.update((article, following) for article, following in zip(words, words[1:])
                     if article in ("a", "an"))
    assert {article for article, _ in pairs} == {"a", "an"}
    for article, following in pairs:
        starts_with_vowel = aligner.pronunciation(following)[0] in vowels
        assert starts_with_vowel == (article == "an"), (article, following)


# --- audio --------------------------------------------------------------------------------------

def test_ogg_encoding_keeps_rate_length_and_timing_and_is_byte_reproducible(tmp_path):
    samples = 1e-3 * np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2)
    clicks = [3001, 12345, 27000]
    for position in clicks:
        samples[position:position + 40] += 0.6 * np.hanning(40)
    samples = samples.astype(np.float32)
    encoded = encode_ogg(samples, serial=1234)
    assert encode_ogg(samples, serial=1234) == encoded  # libsndfile alone varies the serial
    assert encode_ogg(samples, serial=99) != encoded
    path = tmp_path / "clicks.ogg"
    path.write_bytes(encoded)
    info = soundfile.info(str(path))
    assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, len(samples))
    decoded = decode_audio(encoded)
    for position in clicks:  # no codec delay: each click peaks where it was put
        window = decoded[position - 200:position + 240]
        assert int(np.argmax(window)) - 200 == pytest.approx(20, abs=2)


def test_an_utterance_is_aligned_inside_its_speech_and_reproducible():
    job = UtteranceJob(VOICES[0], index=3, seed=5, max_attempts=3)
    utterance = make_utterance(job)
    assert make_utterance(job) == utterance
    assert utterance.path == "train/1001/1001-1-0003.ogg"
    assert [word.label for word in utterance.alignment.words] == utterance.text.split()
    samples = decode_audio(utterance.audio)
    assert len(samples) / SAMPLE_RATE == pytest.approx(utterance.duration)
    assert 0.2 - 0.1 <= utterance.alignment.words[0].start <= 0.5 + 0.1
    # The padding is the quiet noise floor, never digital silence; speech peaks near -3 dBFS.
    lead = samples[:int(0.15 * SAMPLE_RATE)]
    assert 5e-4 < np.sqrt(np.mean(lead ** 2)) < 3e-3 and np.count_nonzero(lead == 0) < 10
    assert 0.6 < np.max(np.abs(samples)) < 0.8


# --- the command-line contract --------------------------------------------------------------------

def test_a_non_empty_output_folder_is_refused_and_left_alone(tmp_path):
    out_dir = tmp_path / "corpus"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    finished = subprocess.run([sys.executable, str(SCRIPT), str(out_dir), "--minutes", "0.1"],
                              capture_output=True, text=True)
    assert finished.returncode == 2
    assert finished.stderr.strip().count("\n") == 0 and "--overwrite" in finished.stderr
    assert [path.name for path in out_dir.iterdir()] == ["keep.txt"]


def test_a_failed_build_leaves_no_output_and_no_temporary_folder(tmp_path, monkeypatch):
    calls = []

    def failing(job):
        calls.append(job)
        if len(calls) > 3:
            raise RuntimeError("synthesiser crashed")
        return make_utterance(job)

    monkeypatch.setattr(demo_corpus, "make_utterance", failing)
    with pytest.raises(RuntimeError, match="synthesiser crashed"):
        build_corpus(tmp_path / "corpus", minutes=0.1, jobs=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options, message", [({"minutes": 0}, "--minutes"),
                                              ({"dev_fraction": 1.5}, "--dev-fraction"),
                                              ({"jobs": 0}, "--jobs")])
def test_bad_options_are_refused_before_any_work(tmp_path, options, message):
    with pytest.raises(UserError, match=message):
        build_corpus(tmp_path / "corpus", **options)
    assert list(tmp_path.iterdir()) == []


def test_a_tiny_corpus_has_the_promised_layout(tmp_path):
    out_dir = tmp_path / "tiny"
    summary = build_corpus(out_dir, seed=3, minutes=0.05, jobs=2)
    files = find_audio_files(out_dir)
    assert len(files) == len(summary.utterances) >= len(VOICES)  # at least one per voice
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "README.md", "SPEAKERS.txt", "alignments.txt", "dev", "train", "transcripts.txt"]
    assert sorted(read_alignment_file(out_dir / "alignments.txt").files) == files
    assert [line.split()[0] for line in (out_dir / "transcripts.txt").read_text().splitlines()] == files
    assert "--seed 3 --minutes 0.05" in (out_dir / "README.md").read_text()
    assert [path.name for path in tmp_path.iterdir()] == ["tiny"]


# --- the bundled corpus ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled():
    return read_alignment_file(DEMO / "alignments.txt"), find_audio_files(DEMO)


def test_every_bundled_audio_file_is_aligned_and_named_like_librispeech(bundled):
    alignments, files = bundled
    assert files and sorted(alignments.files) == files
    for path in files:
        match = FILE_NAME.match(path)
        assert match and match.group(2) == match.group(3), path
        alignment = alignments.get(path)
        assert alignment.words and alignment.phones, path


def test_bundled_alignments_lie_within_the_audio(bundled):
    alignments, files = bundled
    for path in files:
        info = soundfile.info(str(DEMO / path))
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1), path
        alignment = alignments.get(path)
        duration = info.frames / info.samplerate
        assert 0 < alignment.phones[0].start and alignment.phones[-1].end < duration, path
        assert alignment.words[0].start >= 0.1 and duration - alignment.words[-1].end >= 0.1, path


def test_bundled_corpus_size_speakers_and_split(bundled):
    alignments, files = bundled
    seconds = collections.Counter()
    for path in files:
        seconds[path.split("/")[0], path.split("/")[1]] += soundfile.info(str(DEMO / path)).duration
    speakers = {split: {speaker for s, speaker in seconds if s == split} for split in ("train", "dev")}
    assert len(speakers["train"] | speakers["dev"]) >= 12 and len(speakers["dev"]) >= 4
    assert not speakers["train"] & speakers["dev"]
    minutes = sum(seconds.values()) / 60
    dev_minutes = sum(value for (split, _), value in seconds.items() if split == "dev") / 60
    assert 30 <= minutes <= 40
    assert 0.25 <= dev_minutes / minutes <= 0.30
    size = sum(path.stat().st_size for path in DEMO.rglob("*") if path.is_file())
    assert size <= 20e6


def test_bundled_metadata_agrees_with_the_alignments(bundled):
    alignments, files = bundled
    transcripts = dict(line.split(" ", 1) for line in
                       (DEMO / "transcripts.txt").read_text().splitlines())
    assert sorted(transcripts) == files
    for path in files:
        assert [word.label for word in alignments.get(path).words] == \
            transcripts[path].lower().split(), path
    rows = [line.split() for line in (DEMO / "SPEAKERS.txt").read_text().splitlines()
            if not line.startswith("#")]
    listed = {row[0]: row[1] for row in rows}
    assert listed == {path.split("/")[1]: path.split("/")[0] for path in files}
    by_split = collections.defaultdict(set)
    for _, split, synthesiser, _, _ in rows:
        by_split[split].add(synthesiser)
    assert len(by_split["train"] | by_split["dev"]) >= 2 and len(by_split["dev"]) >= 2
