"""Per-speaker CMVN: statistics against numpy, on lists whose speakers are interleaved, through every
place frames are made (feature store, frames on the fly, stage 1, sse.load)."""
import numpy as np
import pytest
import torch

import sse
from sse.core.errors import UserError
from sse.frames.audio import audio_info
from sse.frames.cmvn import SpeakerStats
from sse.frames.feature_store import FeatureStore, check_requested_store, extract_shard
from sse.frames.features import compute_vad_frames
from sse.frames.formats import Segment, Vad, read_vad_list
from sse.frames.frontend import build_frontend
from sse.inference.checkpoint import save_encoder
from sse.inference.embed import frames_on_the_fly
from sse.method.model import SSEEncoder


def numpy_speaker_cmvn(frames_by_vad: dict, speaker_of: dict) -> dict:
    """Each VAD's frames normalised by the mean and std of all frames of its speaker (numpy)."""
    normalised = {}
    for speaker in set(speaker_of.values()):
        stacked = np.concatenate([f for vad, f in frames_by_vad.items() if speaker_of[vad] == speaker]).astype(np.float64)
        mean, std = stacked.mean(0), stacked.std(0)
        for vad, frames in frames_by_vad.items():
            if speaker_of[vad] == speaker:
                normalised[vad] = (frames - mean) / np.maximum(std, 1e-5)
    return normalised


def test_statistics_match_numpy_on_interleaved_speakers(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [(f"s{i % 3}", rng.normal(i % 3, 1 + i % 3, (rng.integers(1, 40), 5))) for i in range(12)]
    stats = SpeakerStats.of(chunks, 5)
    for speaker in ("s0", "s1", "s2"):
        stacked = np.concatenate([f for s, f in chunks if s == speaker])
        mean, std = stats.mean_std(speaker)
        np.testing.assert_allclose(mean, stacked.mean(0), rtol=1e-10)
        np.testing.assert_allclose(std, stacked.std(0), rtol=1e-8)
        np.testing.assert_allclose(stats.normalize(speaker, stacked), (stacked - stacked.mean(0)) / stacked.std(0),
                                   rtol=1e-4, atol=1e-5)
    # Sums of two halves (two shards) are the sums of the whole; a file round-trips exactly.
    merged = SpeakerStats.of(chunks[:5], 5).merge(SpeakerStats.of(chunks[5:], 5))
    stats.save(tmp_path / "stats.npz")
    loaded = SpeakerStats.load(tmp_path / "stats.npz")
    for other in (merged, loaded):
        assert other.speakers == stats.speakers
        for speaker in stats.speakers:
            np.testing.assert_allclose(other.mean_std(speaker), stats.mean_std(speaker), rtol=1e-12)
    # torch in, torch out, same values
    torch.testing.assert_close(stats.normalize("s1", torch.from_numpy(chunks[1][1]).float()),
                               torch.from_numpy(stats.normalize("s1", chunks[1][1])))
    with pytest.raises(UserError, match="no CMVN statistics for speaker 'nobody'"):
        stats.normalize("nobody", chunks[0][1])


@pytest.fixture(scope="module")
def interleaved(word_corpus, tmp_path_factory):
    """The word corpus's VADs with their speakers interleaved, and each VAD's raw MFCC frames."""
    vads = read_vad_list(word_corpus.vads)
    order = [i for offset in range(4) for i in range(offset, len(vads), 4)]  # spk0, spk1, spk2, spk3, spk0...
    vads = [vads[i] for i in order]
    assert [v.speaker for v in vads[:4]] == ["spk0", "spk1", "spk2", "spk3"]
    raw = {vad: compute_vad_frames(build_frontend("mfcc", cmvn="none"), word_corpus.root, vad) for vad in vads}
    return vads, raw, numpy_speaker_cmvn(raw, {vad: vad.speaker for vad in vads})


def test_the_feature_store_normalises_by_speaker_across_shards(word_corpus, interleaved, tmp_path):
    vads, raw, expected = interleaved
    frontend = build_frontend("mfcc", cmvn="speaker")
    for shard in range(3):
        extract_shard(frontend, word_corpus.root, vads, tmp_path, shard, 3, num_workers=0, progress=False)
    store = FeatureStore(tmp_path)
    assert store.frontend["cmvn"] == "speaker"
    for vad in vads:  # every speaker's VADs lie in several shards
        np.testing.assert_allclose(store.frames(vad.wav, vad.start, vad.end), expected[vad], rtol=1e-2, atol=2e-2)
    # The stage-1 statistics computed from the VAD list are the store's.
    from sse.plugin.tasks import training_statistics  # noqa: PLC0415  (fairseq)
    computed = training_statistics(frontend, word_corpus.root, vads)
    for speaker in store.stats.speakers:
        np.testing.assert_allclose(computed.mean_std(speaker), store.stats.mean_std(speaker), rtol=1e-3, atol=1e-3)
    assert training_statistics(frontend, word_corpus.root, vads, str(tmp_path)).speakers == computed.speakers
    # A store of another CMVN mode is refused before any work, and its stats file is part of a shard.
    with pytest.raises(UserError, match="different settings"):
        check_requested_store(tmp_path, "mfcc", 3, cmvn="utterance")
    with pytest.raises(UserError, match="cmvn"):
        extract_shard(build_frontend("mfcc", cmvn="none"), word_corpus.root, vads, tmp_path, 0, 3,
                      num_workers=0, progress=False)
    (tmp_path / "shard-00001-of-00003.stats.npz").unlink()
    with pytest.raises(UserError, match="stats.npz is missing"):
        FeatureStore(tmp_path)


def test_frames_on_the_fly_normalise_by_the_speakers_of_the_list(word_corpus, interleaved):
    vads, _, expected = interleaved
    segments = [Segment(v.wav, v.speaker, v.start, v.end, v.start, v.end) for v in vads]
    frames = dict(frames_on_the_fly(build_frontend("mfcc", cmvn="speaker"), word_corpus.root, segments, progress=False))
    for index, vad in enumerate(vads):
        np.testing.assert_allclose(frames[index], expected[vad], rtol=1e-4, atol=1e-4)
    # Given statistics are used for the speakers they hold; the list gives the others'.
    given = SpeakerStats.of([("spk0", np.ones((3, 78)) * 7 + np.arange(3)[:, None])], 78)
    frames = dict(frames_on_the_fly(build_frontend("mfcc", cmvn="speaker"), word_corpus.root, segments,
                                    progress=False, stats=given))
    np.testing.assert_allclose(frames[0], given.normalize("spk0", compute_vad_frames(
        build_frontend("mfcc", cmvn="none"), word_corpus.root, vads[0])), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(frames[1], expected[vads[1]], rtol=1e-4, atol=1e-4)


def test_load_normalises_a_single_file_by_itself_or_by_given_statistics(word_corpus, tmp_path):
    torch.manual_seed(0)
    frontend = build_frontend("mfcc", cmvn="speaker")
    save_encoder(tmp_path / "checkpoint_best.pt", SSEEncoder(input_dim=78), frontend.describe())
    model = sse.load(tmp_path, device="cpu")
    path = word_corpus.root / "spk1" / "garden.wav"
    whole = compute_vad_frames(build_frontend("mfcc", cmvn="none"), word_corpus.root,
                               Vad("spk1/garden.wav", "spk1", 0.0, audio_info(path).duration))
    span = compute_vad_frames(build_frontend("mfcc", cmvn="none"), word_corpus.root,
                              Vad("spk1/garden.wav", "spk1", 0.5, 0.9))  # with its context, as embed_file

    def direct(mean, std):
        normalised = torch.from_numpy(((span - mean) / std).astype(np.float32))
        with torch.no_grad():
            return model.encoder(normalised[None], torch.tensor([len(span)]))[0].numpy()

    # Without statistics: the whole file's own.
    np.testing.assert_allclose(model.embed_file(path, 0.5, 0.9), direct(whole.mean(0), whole.std(0)),
                               rtol=1e-3, atol=1e-4)
    # With statistics of that speaker over other files: those.
    other_files = [word_corpus.root / "spk1" / name for name in ("window.wav", "market.wav")]
    others = model.statistics(other_files, "spk1")
    stacked = np.concatenate([compute_vad_frames(build_frontend("mfcc", cmvn="none"), "", Vad(
        str(f), "spk1", 0.0, audio_info(f).duration)) for f in other_files])
    # With statistics of that speaker over other files: those.
    with_stats = model.embed_file(path, 0.5, 0.9, stats=others)
    np.testing.assert_allclose(with_stats, direct(stacked.mean(0), stacked.std(0)), rtol=1e-3, atol=1e-4)
    assert not np.allclose(with_stats, model.embed_file(path, 0.5, 0.9), atol=1e-3)
    with pytest.raises(UserError, match="one speaker"):
        model.embed_file(path, 0.5, 0.9, stats=SpeakerStats.of([("a", np.ones((2, 78))), ("b", np.ones((2, 78)))], 78))
