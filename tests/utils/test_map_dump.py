import numpy as np
import pytest
import torch

from sse.evaluation.metrics import speaker_report
from sse.frames.features import compute_vad_frames, frame_span
from sse.frames.formats import read_segment_list
from sse.frames.frontend import build_frontend
from sse.inference.checkpoint import load_encoder, save_encoder
from sse.inference.embed import embed_frames, frames_on_the_fly
from sse.method.model import SSEEncoder
from tests.helpers import assert_user_error, run_script, sklearn_map


def map_line(result):
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("MAP: "), result.stdout
    return float(last.split()[1])


@pytest.fixture(scope="module")
def random_models(tmp_path_factory, tiny_wav2vec2):
    """Randomly initialised encoders saved in the toolkit's format, over mfcc and tiny wav2vec2."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_encoder(folder / "mfcc.pt", SSEEncoder(input_dim=78), build_frontend("mfcc").describe())
    (folder / "w2v").mkdir()
    save_encoder(folder / "w2v" / "checkpoint_best.pt", SSEEncoder(input_dim=32),
                 build_frontend("wav2vec2", tiny_wav2vec2, layer=1).describe())
    return folder


def test_baseline_mean_map_matches_an_independent_computation(word_corpus, tmp_path):
    common = ["--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
              "--baseline", "mean", "--frontend", "mfcc", "--device", "cpu"]
    scored = run_script("map_dump.py", "--task=map", *common, check=True)
    run_script("map_dump.py", "--task=dump", "--output_file", tmp_path / "emb.npy", *common, check=True)
    embeddings = np.load(tmp_path / "emb.npy")
    assert embeddings.shape == (32, 78) and embeddings.dtype == np.float32
    expected, queries = sklearn_map(embeddings, word_corpus.labels)
    assert map_line(scored) == pytest.approx(expected, abs=1e-4)
    assert f"{queries} queries" in scored.stdout
    # The speaker diagnostics come before the MAP line, from the same embeddings.
    speakers = [s.speaker for s in read_segment_list(word_corpus.segments)]
    report = speaker_report(embeddings, word_corpus.labels, speakers)
    assert scored.stdout.strip().splitlines()[-2] == str(report)
    # Row i is the mean of segment i's frames, normalised by its speaker's statistics (the default):
    # check one by hand from the raw frames of the speaker's VADs.
    segments = read_segment_list(word_corpus.segments)
    raw = build_frontend("mfcc", cmvn="none")
    speaker_vads = {s.vad for s in segments if s.speaker == segments[5].speaker}
    stacked = np.concatenate([compute_vad_frames(raw, word_corpus.root, vad) for vad in speaker_vads])
    frames = compute_vad_frames(raw, word_corpus.root, segments[5].vad)
    first, last = frame_span(segments[5].start - segments[5].vad_start, segments[5].end - segments[5].vad_start,
                             len(frames))
    expected = ((frames[first:last] - stacked.mean(0)) / stacked.std(0)).mean(0)
    np.testing.assert_allclose(embeddings[5], expected, rtol=1e-3, atol=1e-3)


def test_mean_pooling_of_normalised_whole_vads_is_warned_about(word_corpus, tmp_path):
    # Isolated words whose segment is the whole VAD: pooled frames normalised over the VAD are 0.
    whole = tmp_path / "whole"
    whole.write_text("".join(f"{s.wav} {s.speaker} {s.start} {s.end} {s.start} {s.end} {s.transcription}\n"
                             for s in read_segment_list(word_corpus.segments)))
    common = ["--path_wavs", word_corpus.root, "--path_segments", whole, "--task=map", "--baseline", "mean",
              "--frontend", "mfcc", "--device", "cpu"]
    plain = run_script("map_dump.py", *common, check=True)
    normalised = run_script("map_dump.py", *common, "--cmvn", "utterance", check=True)
    assert "scores about chance" in normalised.stderr and "scores about chance" not in plain.stderr
    assert map_line(plain) > map_line(normalised)


def test_map_table_scores_an_untrained_encoder_of_the_first_models_shape(word_corpus, random_models):
    """--untrained: the first model's architecture with seed-1 weights, checked against an independent MAP."""
    result = run_script("map_table.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
                        "--path_sse", f"trained={random_models / 'mfcc.pt'}", "--untrained", "--device", "cpu",
                        check=True)
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    assert list(rows) == ["untrained encoder", "trained"]
    torch.manual_seed(1)
    fresh = SSEEncoder(input_dim=78).eval()
    segments = read_segment_list(word_corpus.segments)
    frames = frames_on_the_fly(build_frontend("mfcc"), word_corpus.root, segments, progress=False)
    expected = sklearn_map(embed_frames(fresh, frames, len(segments), progress=False), word_corpus.labels)[0]
    assert rows["untrained encoder"] == pytest.approx(expected, abs=1e-4)
    assert rows["untrained encoder"] != rows["trained"]  # seed 0 made the "trained" one
    refused = run_script("map_table.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
                         "--baseline", "--untrained", "--frontend", "mfcc")
    assert_user_error(refused, "--untrained takes its architecture from the first --path_sse")


@pytest.mark.slow
def test_dump_rows_follow_the_segment_list_with_a_trained_model_format(word_corpus, random_models, tmp_path):
    out = tmp_path / "emb.npy"
    run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
               "--task=dump", "--path_sse", random_models / "w2v", "--output_file", out, "--device", "cpu",
               check=True)
    embeddings = np.load(out)
    assert embeddings.shape == (32, 512) and embeddings.dtype == np.float32
    loaded = load_encoder(random_models / "w2v")
    frontend = build_frontend("wav2vec2", loaded.frontend["path"], loaded.frontend["layer"])
    segments = read_segment_list(word_corpus.segments)
    reversed_order = segments[::-1]
    expected = embed_frames(loaded.encoder, frames_on_the_fly(frontend, word_corpus.root, reversed_order,
                                                              progress=False), len(segments), progress=False)
    np.testing.assert_allclose(embeddings, expected[::-1], rtol=1e-4, atol=1e-4)
    scored = run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments",
                        word_corpus.segments, "--task=map", "--path_sse", random_models / "w2v", check=True)
    assert map_line(scored) == pytest.approx(sklearn_map(embeddings, word_corpus.labels)[0], abs=1e-4)


@pytest.mark.slow
def test_feature_store_gives_the_same_embeddings(word_corpus, random_models, tmp_path):
    run_script("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads", word_corpus.segments,
               "--output_dir", tmp_path / "feats", "--frontend", "mfcc", check=True)
    outputs = []
    for extra in ([], ["--features", tmp_path / "feats"]):
        out = tmp_path / f"emb{len(extra)}.npy"
        run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
                   "--task=dump", "--path_sse", random_models / "mfcc.pt", "--output_file", out, *extra,
                   check=True)
        outputs.append(np.load(out))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=2e-2)  # the store holds float16


def bad_case(tmp_path, word_corpus, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("segments_text, message", [
    ("spk0/window.wav spk0 0.2 1.0 0.3 0.6 w\nspk0/window.wav spk0 0.2 1.0 0.3\n", "segments:2: expected 6 or 7"),
    ("spk9/nothing.wav spk9 0.2 1.0 0.3 0.6 w\n", "no such audio file"),
    ("spk0/window.wav spk0 0.2 99.0 0.3 0.6 w\n", "goes past the end of the file"),
    ("", "the segment list is empty"),
    ("spk0/window.wav spk0 0.2 1.0 0.3 0.6\n", "no transcription"),
    ("spk0/window.wav spk0 0.2 1.0 0.3 0.6 a\nspk0/garden.wav spk0 0.2 1.0 0.3 0.6 b\n", "no transcription occurs twice"),
])
def test_bad_segment_lists(word_corpus, random_models, tmp_path, segments_text, message):
    path = bad_case(tmp_path, word_corpus, "segments", segments_text)
    result = run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments", path,
                        "--task=map", "--path_sse", random_models / "mfcc.pt")
    assert_user_error(result, message)
    assert "MAP:" not in result.stdout


@pytest.mark.slow
def test_bad_checkpoints_and_mismatches(word_corpus, random_models, tmp_path):
    def dump(*args):
        return run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments",
                          word_corpus.segments, "--task=dump", "--output_file", tmp_path / "out.npy", *args)

    (tmp_path / "junk.pt").write_bytes(b"definitely not a checkpoint")
    assert_user_error(dump("--path_sse", tmp_path / "junk.pt"), "not a checkpoint")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    assert_user_error(dump("--path_sse", tmp_path / "other.pt"), "not an SSE checkpoint")
    assert_user_error(dump("--path_sse", tmp_path), "holds no checkpoint_best.pt")
    assert_user_error(dump("--path_sse", random_models / "mfcc.pt", "--frontend", "fbank"),
                      "gives 160-dim frames but the model", "expects 78")
    assert_user_error(run_script("map_dump.py", "--path_wavs", word_corpus.root, "--path_segments",
                                 word_corpus.segments, "--task=dump", "--baseline", "mean"),
                      "--task=dump needs --output")
    assert not (tmp_path / "out.npy").exists()


def test_map_table_scores_mean_pooling_under_each_cmvn_and_marks_the_strongest(word_corpus):
    result = run_script("map_table.py", "--path_wavs", word_corpus.root, "--path_segments", word_corpus.segments,
                        "--baseline", "--frontend", "mfcc", "--device", "cpu", check=True)
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    segments = read_segment_list(word_corpus.segments)
    expected = {}
    for mode in ("none", "utterance", "speaker"):
        frames = dict(frames_on_the_fly(build_frontend("mfcc", cmvn=mode), word_corpus.root, segments, progress=False))
        means = np.stack([frames[i].mean(0) for i in range(len(segments))])
        expected[f"mean mfcc frames, {mode} CMVN"] = sklearn_map(means, word_corpus.labels)[0]
    best = max(expected, key=expected.get)
    assert list(rows) == [name + (" (strongest baseline)" if name == best else "") for name in expected]
    for name, value in expected.items():
        assert rows[name + (" (strongest baseline)" if name == best else "")] == pytest.approx(value, abs=1e-4)
