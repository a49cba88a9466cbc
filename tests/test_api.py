"""sse.load() and self-describing dumps: the same numbers as map_dump.py, from the same lists."""
import json

import numpy as np
import pytest
import soundfile
import torch

import sse
from sse.frames.audio import read_audio
from sse.frames.cmvn import apply_cmvn
from sse.frames.dumps import read_dump
from sse.frames.formats import read_segment_list
from sse.frames.frontend import build_frontend
from sse.inference.checkpoint import save_encoder
from sse.method.model import SSEEncoder
from tests.helpers import run_script


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api_model")
    torch.manual_seed(3)
    save_encoder(folder / "checkpoint_best.pt", SSEEncoder(input_dim=78), build_frontend("mfcc").describe())
    return folder


@pytest.fixture(scope="module")
def dumped(word_corpus, model, tmp_path_factory):
    """map_dump.py's dump of the corpus's segment list, and of the same spans as <wav> <start> <end>."""
    folder = tmp_path_factory.mktemp("dumps")
    segments = read_segment_list(word_corpus.segments)
    (folder / "spans").write_text("".join(f"{s.wav} {s.start} {s.end}\n" for s in segments))
    results = {}
    for name, listed in (("full", word_corpus.segments), ("spans", folder / "spans")):
        result = run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", listed,
                            "--task=dump", "--path_sse", model, "--output", folder / f"{name}.npy",
                            "--device", "cpu", check=True)
        results[name] = result
    return folder, results


def test_dump_description_round_trips(word_corpus, model, dumped):
    folder, results = dumped
    dump = read_dump(folder / "full.npy")
    assert dump.segments == read_segment_list(word_corpus.segments)
    meta = json.loads((folder / "full.npy.json").read_text())
    assert meta["model"]["path"] == str((model / "checkpoint_best.pt").resolve())
    assert meta["model"]["frontend"]["name"] == "mfcc" and meta["toolkit"]["version"] == sse.__version__
    assert meta["shape"] == [32, 512] and meta["normalized"] is False
    spans = read_dump(folder / "spans.npy")
    assert json.loads((folder / "spans.npy.json").read_text())["rows"][0] == "spk0/window.wav 0.3 " + \
        f"{read_segment_list(word_corpus.segments)[0].end:g}"
    assert all(s.vad_start == s.start and s.speaker == "-" for s in spans.segments)
    # Redirected stderr: progress as plain lines, no cursor escapes.
    assert "\r" not in results["full"].stderr and "\x1b[" not in results["full"].stderr


def test_load_gives_map_dump_numbers(word_corpus, model, dumped):
    folder, _ = dumped
    embedder = sse.load(model, device="cpu")
    segments = read_segment_list(word_corpus.segments)
    np.testing.assert_allclose(embedder.embed_segments(word_corpus.segments, word_corpus.root),
                               np.load(folder / "full.npy"), atol=1e-5)
    spans = np.load(folder / "spans.npy")
    np.testing.assert_allclose(embedder.embed_segments(folder / "spans", word_corpus.root), spans, atol=1e-5)
    # A file with start/end times is the <wav> <start> <end> line of map_dump.
    first = segments[3]
    np.testing.assert_allclose(embedder.embed_file(word_corpus.root / first.wav, first.start, first.end),
                               spans[3], atol=1e-5)


def test_waveforms_are_resampled_and_averaged_like_files(word_corpus, model, tmp_path):
    embedder = sse.load(model, device="cpu")
    path = word_corpus.root / "spk1" / "garden.wav"           # 22.05 kHz mono
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate != 16000
    stereo = np.stack([samples, samples], axis=1)
    from_raw = embedder.embed_waveform(stereo, rate)
    from_16k = embedder.embed_waveform(read_audio(path), 16000)
    np.testing.assert_allclose(from_raw, from_16k, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_waveform(torch.from_numpy(stereo.T), rate, channels_first=True),
                               from_16k, atol=1e-5)
    # Direct computation: the encoder over the front-end's frames of the whole waveform, normalised
    # by their own statistics (the model's CMVN is per speaker, and a waveform's speaker is unknown).
    frames = apply_cmvn(build_frontend("mfcc", cmvn="none")(read_audio(path)))
    with torch.no_grad():
        direct = embedder.encoder(frames[None], torch.tensor([len(frames)]))[0].numpy()
    np.testing.assert_allclose(from_16k, direct, atol=1e-5)
    assert from_16k.shape == (512,) and embedder.dim == 512


def test_normalized_dump_and_bad_outputs(word_corpus, model, dumped, tmp_path):
    folder, _ = dumped
    run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
               "--task=dump", "--path_sse", model, "--output", tmp_path / "n.npy", "--normalize", "--quiet", check=True)
    normalized, raw = np.load(tmp_path / "n.npy"), np.load(folder / "full.npy")
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(normalized, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert json.loads((tmp_path / "n.npy.json").read_text())["normalized"] is True
    result = run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
                        "--task=dump", "--path_sse", model, "--output", tmp_path / "emb.txt")
    assert result.returncode == 2 and "must end in .npy" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.npy", "n.npy.json"]


def test_search_with_a_model_and_new_queries(word_corpus, model, dumped, tmp_path):
    """Queries as a segment list, embedded with the model the dump records; itself excluded."""
    folder, _ = dumped
    segments = read_segment_list(word_corpus.segments)
    (tmp_path / "queries").write_text(f"{segments[0].wav} {segments[0].start} {segments[0].end}\n")
    result = run_script("search.py", "--embeddings", folder / "spans.npy", "--queries", tmp_path / "queries",
                        "--k", "3", check=True)
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("# query 0: spk0/window.wav 0.3") and len(lines) == 4
    spans = np.load(folder / "spans.npy")
    scores = (spans / np.linalg.norm(spans, axis=1, keepdims=True)) @ (spans[0] / np.linalg.norm(spans[0]))
    expected = [int(i) for i in np.argsort(-scores) if i != 0][:3]
    spans_text = (folder / "spans").read_text().splitlines()
    assert [line.rsplit(" ", 1)[0] for line in lines[1:]] == [spans_text[i] for i in expected]
