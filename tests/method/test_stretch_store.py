"""The store of time-stretched frames that a k-NN iteration with stretched pairs reads (sse/method/stretch_store.py)."""
import numpy as np
import pedalboard
import pytest
import soundfile

from sse.core.errors import UserError
from sse.frames.audio import read_audio
from sse.frames.feature_store import FeatureStore, extract_shard
from sse.frames.formats import Pair, Vad
from sse.frames.frontend import build_frontend
from sse.method.sampling import StretchedPairSampler, batch_rng
from sse.method.stretch_store import StretchStore, build_stretch_store, version_name
from tests.helpers import DATA, assert_clean_failure, run_quiet

FSDD = DATA / "fsdd"
WAVS = ["0_george_0.wav", "1_jackson_0.wav", "2_george_1.wav", "3_jackson_2.wav"]


def vads_of(names) -> list[Vad]:
    return [Vad(name, name.split("_")[1], 0.02, round(soundfile.info(FSDD / name).duration - 0.02, 3))
            for name in names]


def feature_store(directory, names=WAVS, frontend=None) -> FeatureStore:
    extract_shard(frontend or build_frontend("mfcc", cmvn="utterance"), FSDD, vads_of(names), directory, num_workers=0,
                  progress=False)
    return FeatureStore(directory)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A feature store of four real recordings, and 3 stretched versions of its VADs."""
    root = tmp_path_factory.mktemp("stretch")
    source = feature_store(root / "train")
    assert build_stretch_store(source, FSDD, root / "stretched", build_frontend("mfcc", cmvn="utterance"), 3, num_workers=0,
                               progress=False) == 3
    return root, source, StretchStore(root / "stretched", source)


def index_entries(directory, version, versions):
    lines = (directory / f"{version_name(version, versions)}.index").read_text().splitlines()
    return {(f[0], float(f[2])): (float(f[4]), int(f[6])) for f in map(str.split, lines)}


def test_a_side_is_the_stretched_audio_of_its_vad_at_the_mapped_span(stores):
    root, source, stretched = stores
    vad = vads_of(WAVS[1:2])[0]
    factors = []
    for version in range(3):
        factor, count = index_entries(root / "stretched", version, 3)[vad.wav, vad.start]
        factors.append(factor)
        # Independently: the VAD's audio (read at 16 kHz), stretched, raw MFCC, CMVN over the whole.
        samples = pedalboard.time_stretch(read_audio(FSDD / vad.wav, vad.start, vad.end)[None], 16000,
                                          stretch_factor=factor)[0]
        raw = build_frontend("mfcc", cmvn="none")(samples).numpy()
        whole = (raw - raw.mean(0)) / np.maximum(raw.std(0), 1e-5)
        assert count == len(whole) and abs(count - vad.duration / factor * 50) <= 3
        start, end = vad.start + 0.10, vad.start + 0.42  # 16 frames unstretched
        first, last = round(0.10 / factor * 50), round(0.42 / factor * 50)
        side = stretched.frames(vad.wav, start, end, version)
        assert side.dtype == np.float16 and len(side) == last - first
        np.testing.assert_allclose(side.astype(np.float32), whole[first:last], rtol=1e-2, atol=2e-2)
    assert len(set(factors)) == 3 and all(0.5 <= f <= 1.8 for f in factors)


def test_the_store_round_trips_and_a_rerun_recomputes_nothing(stores):
    root, source, stretched = stores
    again = StretchStore(root / "stretched", FeatureStore(root / "train"))
    assert again.versions == 3 and set(again.entries) == set(stretched.entries) and len(again.entries) == 4
    for vad in vads_of(WAVS):
        for version in range(3):
            np.testing.assert_array_equal(again.frames(vad.wav, vad.start, vad.end, version),
                                          stretched.frames(vad.wav, vad.start, vad.end, version))
    before = {p.name: p.stat().st_mtime_ns for p in (root / "stretched").iterdir()}
    assert build_stretch_store(source, FSDD, root / "stretched", build_frontend("mfcc", cmvn="utterance"), 3, num_workers=0,
                               progress=False) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (root / "stretched").iterdir()} == before


def test_an_interrupted_or_damaged_version_is_refused_then_made_again_identically(stores, tmp_path):
    root, source, stretched = stores

    class Failing:  # the MFCC front-end, failing on its third waveform
        def __init__(self):
            self.inner, self.calls = build_frontend("mfcc", cmvn="utterance"), 0
            self.name, self.dim, self.frame_rate, self.cmvn = "mfcc", self.inner.dim, 50, self.inner.cmvn
            self.device = self.inner.device

        def describe(self):
            return self.inner.describe()

        def normalize(self, frames, *speaker_and_stats):
            return self.inner.normalize(frames, *speaker_and_stats)

        def batch(self, waves):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("killed")
            return self.inner.batch(waves)

    with pytest.raises(RuntimeError, match="killed"):
        build_stretch_store(source, FSDD, tmp_path, Failing(), 3, num_workers=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stretch.json"]  # nothing half-written
    with pytest.raises(UserError, match="version-00000-of-00003.npy is missing"):
        StretchStore(tmp_path, source)
    assert build_stretch_store(source, FSDD, tmp_path, build_frontend("mfcc", cmvn="utterance"), 3, num_workers=0, progress=False) == 3
    # A version cut short afterwards is refused, and only it is made again, the same as before.
    damaged = tmp_path / "version-00001-of-00003.npy"
    damaged.write_bytes(damaged.read_bytes()[:-4000])
    with pytest.raises(UserError, match="version-00001-of-00003.npy is damaged"):
        StretchStore(tmp_path, source)
    assert build_stretch_store(source, FSDD, tmp_path, build_frontend("mfcc", cmvn="utterance"), 3, num_workers=0, progress=False) == 1
    remade = StretchStore(tmp_path, source)
    vad = vads_of(WAVS[2:3])[0]
    for version in range(3):  # each VAD's tempo is seeded by (seed, version, VAD), whatever ran before
        np.testing.assert_array_equal(remade.frames(vad.wav, vad.start, vad.end, version),
                                      stretched.frames(vad.wav, vad.start, vad.end, version))


def test_a_stale_store_is_refused(stores, tmp_path):
    root, source, _ = stores
    with pytest.raises(UserError, match=r"other inputs or settings \(versions 3 -> 5\)"):
        build_stretch_store(source, FSDD, root / "stretched", build_frontend("mfcc", cmvn="utterance"), 5, num_workers=0)
    # Features extracted again from another VAD list: the stretched frames are not theirs.
    other = feature_store(tmp_path / "train", WAVS[:3])
    for attempt in (lambda: StretchStore(root / "stretched", other),
                    lambda: build_stretch_store(other, FSDD, root / "stretched", build_frontend("mfcc", cmvn="utterance"), 3)):
        with pytest.raises(UserError, match=r"other inputs or settings \(another source.vads; another source_index\)"):
            attempt()
    with pytest.raises(UserError, match="holds mfcc features"):  # another front-end than the store's
        build_stretch_store(source, FSDD, tmp_path / "fbank", build_frontend("fbank", cmvn="utterance"), 2)


def test_wav2vec2_features_are_stretched_with_their_own_front_end(tmp_path, tiny_wav2vec2):
    w2v = build_frontend("wav2vec2", tiny_wav2vec2, layer=2)
    source = feature_store(tmp_path / "train", WAVS[:2], w2v)
    build_stretch_store(source, FSDD, tmp_path / "stretched", w2v, 2, num_workers=0, progress=False)
    stretched = StretchStore(tmp_path / "stretched", source)
    vad = vads_of(WAVS[:1])[0]
    factor, count = index_entries(tmp_path / "stretched", 1, 2)[vad.wav, vad.start]
    samples = pedalboard.time_stretch(read_audio(FSDD / vad.wav, vad.start, vad.end)[None], 16000,
                                      stretch_factor=factor)[0]
    expected = w2v(samples).numpy()  # wav2vec 2.0 frames are used unnormalised
    assert count == len(expected)
    np.testing.assert_allclose(stretched.frames(vad.wav, vad.start, vad.end, 1).astype(np.float32),
                               expected, rtol=1e-2, atol=1e-2)


def test_stretched_pairs_read_each_side_from_a_random_version(stores):
    _, source, stretched = stores
    a, b, c, _ = vads_of(WAVS)
    pairs = [Pair(a.wav, "george", a.start + 0.04, a.start + 0.24, b.wav, "jackson", b.start, b.start + 0.16, 0.9),
             Pair(c.wav, "george", c.start, c.start + 0.32, c.wav, "george", c.start + 0.1, c.start + 0.4, 0.99)]
    sampler = StretchedPairSampler(pairs, stretched, pairs_per_batch=4)
    assert sampler.pairs.dropped_same_file == 1
    seen = set()
    for index in range(30):
        (first, second), = sampler.draw(batch_rng(0, 1, index))
        versions = [next(v for v in range(3) if np.array_equal(frames, stretched.frames(*span, v)))
                    for frames, span in ((first, (a.wav, a.start + 0.04, a.start + 0.24)),
                                         (second, (b.wav, b.start, b.start + 0.16)))]
        seen.add(tuple(versions))
        assert len(first) != 10 or len(second) != 8  # stretched: not both at their unstretched length
    assert len(seen) >= 5  # each side's version is drawn on its own
    np.testing.assert_array_equal(sampler.draw(batch_rng(0, 1, 7))[0][0], sampler.draw(batch_rng(0, 1, 7))[0][0])


def test_the_script_refuses_bad_input_in_one_line(stores, tmp_path):
    root, _, _ = stores
    output = tmp_path / "out"
    result = run_quiet("stretch_features.py", "--features", tmp_path / "nothing", "--path_wavs", FSDD,
                       "--versions", "2", "--output", output, "--device", "cpu")
    assert_clean_failure(result, output, "feature store")
    result = run_quiet("stretch_features.py", "--features", root / "train", "--path_wavs", FSDD,
                       "--versions", "0", "--output", output)
    assert_clean_failure(result, output, "--versions")
