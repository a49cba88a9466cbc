"""Tests of sse/prep/vad.py and utils/vad.py on real read speech (Debian's pocketsphinx-testdata)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sse.core.errors import UserError
from sse.core.sharding import shard_slice
from sse.frames.audio import SAMPLE_RATE, find_audio_files, read_audio
from sse.frames.formats import read_vad_list, write_vad_list
from sse.prep.alignments import read_alignment_file
from sse.prep.speakers import DEFAULT_SPEAKER_REGEX, compile_speaker_regex, speaker_of, speakers_of
from sse.prep.vad import (
    SileroDetector,
    VadSettings,
    check_backend,
    clean_regions,
    detect_file,
    list_corpus,
    vad_corpus,
)
from tests.helpers import REPO

SCRIPT = REPO / "utils" / "vad.py"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
UTTERANCES = ["0870", "0880", "0890", "0920", "0930"]
DEMO = REPO / "training_data" / "demo"

needs_librivox = pytest.mark.skipif(
    not LIBRIVOX.is_dir(), reason="needs the real speech of Debian's pocketsphinx-testdata "
                                  "(apt-get install pocketsphinx-testdata)")


def librivox(number: str) -> Path:
    return LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{number}.wav"


def loud_frames(samples: np.ndarray, below_peak_db: float) -> np.ndarray:
    """Boolean mask of 10 ms frames whose energy is within ``below_peak_db`` of the loudest frame.

    An aligner-free reference for "where the speech is": on clean read speech, frames this
    close to the peak are voiced speech, never the room noise between words.
    """
    frame = SAMPLE_RATE // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    energy_db = 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    return energy_db > energy_db.max() - below_peak_db


def covered(regions, start: float, end: float) -> float:
    """Seconds of ``[start, end]`` inside the (non-overlapping) ``regions``."""
    return sum(max(0.0, min(end, region_end) - max(start, region_start))
               for region_start, region_end in regions)


def quiet(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Digital silence, or a -60 dBFS white-noise floor like a real recording's."""
    count = int(round(seconds * SAMPLE_RATE))
    if kind == "zeros":
        return np.zeros(count, np.float32)
    return (rng.standard_normal(count) * 1e-3).astype(np.float32)


@pytest.fixture(scope="module")
def detector():
    return SileroDetector(VadSettings())


# ---------------------------------------------------------------------------------------------
# Detection quality
# ---------------------------------------------------------------------------------------------

@needs_librivox
@pytest.mark.parametrize("number", UTTERANCES)
def test_regions_cover_real_speech_and_not_added_silence(detector, number):
    speech = read_audio(librivox(number))
    lead, tail = 1.0, 1.5
    rng = np.random.default_rng(0)
    samples = np.concatenate([quiet("noise", lead, rng), speech, quiet("noise", tail, rng)])
    regions = clean_regions(detector(samples), len(samples) / SAMPLE_RATE)
    assert regions

    loud = np.flatnonzero(loud_frames(speech, below_peak_db=25))
    loud_inside = sum(covered(regions, lead + i / 100, lead + (i + 1) / 100) for i in loud) / (len(loud) / 100)
    assert loud_inside >= 0.95, f"only {loud_inside:.1%} of loud speech frames are inside VAD regions"

    first_word, last_word = lead + loud[0] / 100, lead + (loud[-1] + 1) / 100
    span_inside = covered(regions, first_word, last_word) / (last_word - first_word)
    assert span_inside >= 0.90, f"only {span_inside:.1%} of the utterance span is inside VAD regions"

    # The padding we added holds no speech: at most the speech pad plus one silero window leaks in.
    leak = VadSettings().speech_pad + 0.05
    speech_end = lead + len(speech) / SAMPLE_RATE
    assert regions[0][0] >= lead - leak
    assert regions[-1][1] <= speech_end + leak + 0.15   # silero also waits a little before ending


@needs_librivox
@pytest.mark.parametrize("number", ["0880", "0920"])
@pytest.mark.parametrize("silence", ["zeros", "noise"])
def test_boundaries_of_a_speech_burst_between_silences(detector, number, silence):
    speech = read_audio(librivox(number))
    # Cut the utterance where it is loud, so the burst has abrupt, exactly known edges.
    loud = np.flatnonzero(loud_frames(speech, below_peak_db=15))
    burst = speech[loud[0] * SAMPLE_RATE // 100:(loud[-1] + 1) * SAMPLE_RATE // 100]
    onset = 1.5
    offset = onset + len(burst) / SAMPLE_RATE
    rng = np.random.default_rng(1)
    samples = np.concatenate([quiet(silence, onset, rng), burst, quiet(silence, 2.0, rng)])

    regions = clean_regions(detector(samples), len(samples) / SAMPLE_RATE)

    pad = VadSettings().speech_pad
    start, end = regions[0][0], regions[-1][1]
    assert onset - pad - 0.05 <= start <= onset + 0.10, (start, onset)
    assert offset - 0.10 <= end <= offset + pad + 0.15, (end, offset)
    assert covered(regions, onset, offset) >= 0.9 * (offset - onset)


@needs_librivox
def test_other_rates_and_channels_give_the_same_regions(detector, tmp_path):
    speech = read_audio(librivox("0930"))
    rng = np.random.default_rng(2)
    samples = np.concatenate([quiet("noise", 1.0, rng), speech, quiet("noise", 1.0, rng)])
    mono_16k = tmp_path / "mono.wav"
    soundfile.write(mono_16k, samples, SAMPLE_RATE)
    import soxr
    stereo_44k = tmp_path / "stereo.flac"
    upsampled = soxr.resample(samples, SAMPLE_RATE, 44100)
    soundfile.write(stereo_44k, np.stack([upsampled, upsampled], axis=1), 44100)

    reference = detect_file(mono_16k, detector)
    resampled = detect_file(stereo_44k, detector)
    assert len(reference) == len(resampled) >= 1
    for (start_a, end_a), (start_b, end_b) in zip(reference, resampled):
        assert abs(start_a - start_b) <= 0.04 and abs(end_a - end_b) <= 0.04


def test_clean_regions_rounds_to_milliseconds_and_stays_inside_the_file():
    regions = [(-0.0004, 1.23456), (2.0, 2.0004), (5.0, 9.0)]
    assert clean_regions(regions, duration=7.0008) == [(0.0, 1.235), (5.0, 7.0)]


def test_no_speech_in_silence(detector, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, quiet("noise", 3.0, np.random.default_rng(3)), SAMPLE_RATE)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), SAMPLE_RATE)
    assert detect_file(silent, detector) == []
    assert detect_file(empty, detector) == []


# ---------------------------------------------------------------------------------------------
# Speakers and shards
# ---------------------------------------------------------------------------------------------

def test_default_regex_reads_librispeech_and_demo_names():
    regex = compile_speaker_regex(DEFAULT_SPEAKER_REGEX)
    assert speaker_of("train-clean-100/103/1240/103-1240-0000.flac", regex) == "103"
    assert speaker_of("103-1240-0000.flac", regex) == "103"
    assert speaker_of("train/1001/1001-1-0003.ogg", regex) == "1001"
    # The file name decides, not the folders above it.
    assert speaker_of("dev-clean/84/121123/84-121123-0012.wav", regex) == "84"
    assert speaker_of("audio/speaker_7/take1.wav", regex) is None


def test_custom_regex_first_group_or_named_speaker_group():
    assert speaker_of("spk_A/utt1.wav", compile_speaker_regex(r"^spk_(\w+)/")) == "A"
    named = compile_speaker_regex(r"^(session\d+)/(?P<speaker>[^/]+)/")
    assert speaker_of("session3/alice/x.wav", named) == "alice"


def test_speakers_of_names_the_file_and_regex_that_do_not_match():
    regex = compile_speaker_regex(DEFAULT_SPEAKER_REGEX)
    with pytest.raises(UserError) as caught:
        speakers_of(["train/1/1-2-0000.wav", "misc/readme.wav", "misc/other.wav"], regex)
    message = str(caught.value)
    assert "misc/readme.wav" in message and DEFAULT_SPEAKER_REGEX in message
    assert "1 other file)" in message


@pytest.mark.parametrize("pattern, complaint", [("spk_(\\w+", "not a valid"),
                                                ("spk_\\w+", "no capture group")])
def test_bad_speaker_regex(pattern, complaint):
    with pytest.raises(UserError, match=complaint):
        compile_speaker_regex(pattern)


def test_whitespace_cannot_reach_the_list():
    regex = compile_speaker_regex(r"^([^/]+)/")
    with pytest.raises(UserError, match="whitespace"):
        speakers_of(["my speaker/a.wav"], regex)


@pytest.mark.parametrize("count", [1, 7, 10, 103])
@pytest.mark.parametrize("nshards", [1, 3, 4])
def test_shards_are_contiguous_and_partition_the_list(count, nshards):
    blocks = [range(count)[shard_slice(count, shard, nshards)] for shard in range(nshards)]
    assert [item for block in blocks for item in block] == list(range(count))
    sizes = [len(block) for block in blocks]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("shard, nshards", [(3, 3), (-1, 2), (0, 0)])
def test_bad_shard_arguments(shard, nshards):
    with pytest.raises(UserError):
        shard_slice(10, shard, nshards)


# ---------------------------------------------------------------------------------------------
# A small corpus, through the library and the command line
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """LibriSpeech-style tree: two speakers, a flac, an 8 kHz file and a file without speech."""
    if not LIBRIVOX.is_dir():
        pytest.skip("needs Debian's pocketsphinx-testdata")
    root = tmp_path_factory.mktemp("corpus")
    (root / "train" / "19").mkdir(parents=True)
    (root / "dev" / "84").mkdir(parents=True)
    shutil.copy(librivox("0880"), root / "train" / "19" / "19-198-0000.wav")
    soundfile.write(root / "train" / "19" / "19-198-0001.flac", read_audio(librivox("0930")), SAMPLE_RATE)
    import soxr
    soundfile.write(root / "dev" / "84" / "84-121123-0000.wav",
                    soxr.resample(read_audio(librivox("0890")), SAMPLE_RATE, 8000), 8000)
    soundfile.write(root / "dev" / "84" / "84-121123-0001.wav",
                    quiet("noise", 2.0, np.random.default_rng(4)), SAMPLE_RATE)
    (root / "train" / "19" / "19-198.trans.txt").write_text("not audio\n")
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_cli_writes_a_vad_list_that_reads_back(corpus, tmp_path):
    output = tmp_path / "lists" / "vads.txt"
    result = run_cli("--path_wavs", str(corpus), "--output", str(output))
    assert result.returncode == 0, result.stderr

    vads = read_vad_list(output)
    wavs = [vad.wav for vad in vads]
    assert wavs == sorted(wavs)
    assert set(wavs) == {"dev/84/84-121123-0000.wav", "train/19/19-198-0000.wav",
                         "train/19/19-198-0001.flac"}
    assert {vad.wav: vad.speaker for vad in vads}["dev/84/84-121123-0000.wav"] == "84"
    assert {vad.speaker for vad in vads if vad.wav.startswith("train/")} == {"19"}
    for vad in vads:
        duration = soundfile.info(str(corpus / vad.wav)).duration
        assert 0 <= vad.start < vad.end <= duration
        assert round(vad.start, 3) == vad.start and round(vad.end, 3) == vad.end
    assert "1 of 4 files have no speech" in result.stderr

    write_vad_list(tmp_path / "again.txt", vads)
    assert (tmp_path / "again.txt").read_text() == output.read_text()


def test_library_matches_cli_and_shards_concatenate_to_the_whole(corpus, tmp_path):
    settings = VadSettings()
    wavs, speakers = list_corpus(corpus)
    assert wavs == find_audio_files(corpus)
    whole = vad_corpus(corpus, wavs, speakers, settings)
    assert whole.files_without_speech == ["dev/84/84-121123-0001.wav"]

    pieces = []
    for shard in range(3):
        shard_wavs, shard_speakers = list_corpus(corpus, shard=shard, nshards=3)
        pieces.extend(vad_corpus(corpus, shard_wavs, shard_speakers, settings).vads)
    assert pieces == whole.vads

    write_vad_list(tmp_path / "vads.txt", whole.vads)
    assert read_vad_list(tmp_path / "vads.txt") == whole.vads


def test_parallel_workers_give_the_same_list(corpus, tmp_path):
    serial, parallel = tmp_path / "serial.txt", tmp_path / "parallel.txt"
    assert run_cli("--path_wavs", str(corpus), "--output", str(serial)).returncode == 0
    result = run_cli("--path_wavs", str(corpus), "--output", str(parallel), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert parallel.read_text() == serial.read_text()


def assert_one_line_error(result: subprocess.CompletedProcess, output: Path, *names: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for name in names:
        assert name in errors[0], errors[0]
    assert not output.exists()
    assert not output.parent.exists() or not any(output.parent.iterdir())  # no .part left either


def test_cli_missing_folder(tmp_path):
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(tmp_path / "nowhere"), "--output", str(output))
    assert_one_line_error(result, output, "nowhere", "no such corpus folder")


def test_cli_folder_without_audio(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text("hello\n")
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(tmp_path / "corpus"), "--output", str(output))
    assert_one_line_error(result, output, "no audio files")


def test_cli_regex_that_does_not_match(corpus, tmp_path):
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(corpus), "--output", str(output), "--speaker_regex", r"^train/(\d+)/")
    assert_one_line_error(result, output, "dev/84/84-121123-0000.wav", r"^train/(\d+)/")


def test_cli_file_that_is_not_audio(corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    (root / "train" / "19" / "19-198-0002.wav").write_bytes(b"RIFF this is not a wave file" * 20)
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(root), "--output", str(output))
    assert_one_line_error(result, output, "19-198-0002.wav", "cannot read audio")


@needs_librivox
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_file_corrupt_past_its_header(corpus, tmp_path, jobs):
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    # A flac whose header is fine but whose frames are garbage only fails while decoding, i.e.
    # in a worker process when --jobs > 1.
    broken = root / "train" / "19" / "19-198-0001.flac"
    data = bytearray(broken.read_bytes())
    middle = len(data) // 3
    data[middle:middle + 2000] = bytes((7 * index) % 256 for index in range(2000))
    broken.write_bytes(bytes(data))
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(root), "--output", str(output), "--jobs", jobs)
    assert_one_line_error(result, output, "19-198-0001.flac", "cannot read audio")


def test_cli_all_silent_corpus_is_an_error(tmp_path):
    root = tmp_path / "corpus" / "5"
    root.mkdir(parents=True)
    soundfile.write(root / "5-1-0000.wav", quiet("noise", 2.0, np.random.default_rng(5)), SAMPLE_RATE)
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(tmp_path / "corpus"), "--output", str(output))
    assert_one_line_error(result, output, "no speech found")


def test_cli_pyannote_without_pyannote(corpus, tmp_path):
    try:
        import pyannote.audio  # noqa: F401
        pytest.skip("pyannote.audio is installed here")
    except ImportError:
        pass
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(corpus), "--output", str(output), "--backend", "pyannote")
    assert_one_line_error(result, output, "pip install pyannote.audio", "--pyannote_model", "silero")


def test_cli_bad_shard(corpus, tmp_path):
    output = tmp_path / "out" / "vads.txt"
    result = run_cli("--path_wavs", str(corpus), "--output", str(output), "--nshards", "2", "--shard", "2")
    assert_one_line_error(result, output, "--shard 2")


def test_pyannote_needs_a_local_model(monkeypatch, tmp_path):
    # Stand-in modules let the checks past the import, to reach the model-path checks.
    package = types.ModuleType("pyannote")
    package.__path__ = []
    package.audio = types.ModuleType("pyannote.audio")
    monkeypatch.setitem(sys.modules, "pyannote", package)
    monkeypatch.setitem(sys.modules, "pyannote.audio", package.audio)
    with pytest.raises(UserError, match="--pyannote_model is missing"):
        check_backend(VadSettings(backend="pyannote"))
    with pytest.raises(UserError, match="no such pyannote model"):
        check_backend(VadSettings(backend="pyannote", pyannote_model=str(tmp_path / "seg.bin")))


@pytest.mark.parametrize("field, value", [("threshold", 1.0), ("min_speech", -0.1),
                                          ("speech_pad", float("nan")), ("backend", "webrtc")])
def test_bad_settings(field, value):
    with pytest.raises(UserError):
        VadSettings(**{field: value})


# ---------------------------------------------------------------------------------------------
# The bundled demo corpus
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not (DEMO / "alignments.txt").exists(),
                    reason="training_data/demo/alignments.txt does not exist yet (the demo corpus "
                           "is generated separately)")
def test_vad_finds_the_aligned_words_of_the_demo_corpus(detector):
    alignments = read_alignment_file(DEMO / "alignments.txt")
    wavs = sorted(wav for wav, alignment in alignments.items() if alignment.words)
    assert wavs, "the demo alignments have no words"
    # A handful spread over the sorted list, so both dev/ and train/ and several speakers count.
    chosen = [wavs[index] for index in np.linspace(0, len(wavs) - 1, num=min(8, len(wavs))).astype(int)]

    word_time = word_time_inside = edge_time = edge_time_inside = 0.0
    for wav in dict.fromkeys(chosen):
        regions = detect_file(DEMO / wav, detector)
        words = alignments.get(wav).words
        for word in words:
            word_time += word.end - word.start
            word_time_inside += covered(regions, word.start, word.end)
        # Silence before the first and after the last word should mostly stay outside.
        duration = soundfile.info(str(DEMO / wav)).duration
        for start, end in ((0.0, words[0].start), (words[-1].end, duration)):
            edge_time += max(0.0, end - start)
            edge_time_inside += covered(regions, start, end)

    assert word_time_inside >= 0.95 * word_time, \
        f"only {word_time_inside / word_time:.1%} of word time is inside VAD regions"
    if edge_time >= 1.0:
        assert edge_time_inside <= 0.6 * edge_time, \
            f"{edge_time_inside / edge_time:.1%} of the silence around the words is inside VAD regions"


def test_one_speaker_per_file_even_when_files_differ_only_by_extension(tmp_path):
    """--speakers file: a.flac and a.mp3 are two files, so two speakers (the extension tells them
    apart); a name that is unique keeps its speaker without extension."""
    for name in ("a16k.wav", "a.flac", "a.mp3", "b/c.ogg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")  # listing the corpus reads no audio
    wavs, speakers = list_corpus(tmp_path, speakers_from="file")
    assert dict(zip(wavs, speakers)) == {"a.flac": "a.flac", "a.mp3": "a.mp3", "a16k.wav": "a16k", "b/c.ogg": "b/c"}


def test_speakers_by_folder_or_one_per_file(tmp_path):
    from sse.prep.speakers import speakers_by

    wavs = ["alice/a.wav", "alice/b.flac", "sessions/bob/c.wav"]
    assert speakers_by(wavs, "folder") == ["alice", "alice", "bob"]
    assert speakers_by(wavs, "file") == ["alice/a", "alice/b", "sessions/bob/c"]
    assert speakers_by(["x/1-2-3.wav"], "regex") == ["1"]
    with pytest.raises(UserError, match="directly in the corpus root"):
        speakers_by(["top.wav"], "folder")
    with pytest.raises(UserError, match="whitespace"):
        speakers_by(["my folder/a.wav"], "file")
    # list_corpus applies the choice to a real tree, whatever the file names are.
    for name in ("alice/take 1", "alice/take2", "bob/x"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
    soundfile.write(tmp_path / "alice" / "take2.wav", np.zeros(1600, dtype=np.float32), SAMPLE_RATE)
    soundfile.write(tmp_path / "bob" / "x.wav", np.zeros(1600, dtype=np.float32), SAMPLE_RATE)
    assert list_corpus(tmp_path, speakers_from="folder") == (["alice/take2.wav", "bob/x.wav"], ["alice", "bob"])
    with pytest.raises(UserError, match="finds no speaker id"):
        list_corpus(tmp_path)  # the LibriSpeech default does not fit these names
