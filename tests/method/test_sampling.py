from collections import Counter

import numpy as np
import pytest
import soundfile

from sse.core.errors import UserError
from sse.frames.formats import Pair, Segment, Vad
from sse.method.sampling import (
    AugmentationSampler,
    AugmentationSettings,
    LabelSampler,
    PairSampler,
    batch_rng,
    split_heldout,
)


@pytest.fixture(scope="module")
def speakers(tmp_path_factory):
    """Three speakers: A with 30 long VADs, B with 20, C with only 5 (too few to take part)."""
    root = tmp_path_factory.mktemp("speakers")
    rng = np.random.default_rng(0)
    vads = []
    for speaker, count in (("A", 30), ("B", 20), ("C", 5)):
        for index in range(count):
            name = f"{speaker}/{speaker}-{index}.wav"
            (root / speaker).mkdir(exist_ok=True)
            soundfile.write(root / name, rng.normal(0, 0.1, 3 * 16000).astype(np.float32), 16000)
            vads.append(Vad(name, speaker, 0.5, 2.5 if index % 2 else 1.8))
    vads.append(Vad("A/A-0.wav", "A", 2.6, 2.9))  # too short to be used
    return root, vads


def test_batches_come_from_one_eligible_speaker(speakers):
    root, vads = speakers
    sampler = AugmentationSampler(vads, root, AugmentationSettings(pairs_per_batch=40, max_batch_duration=7.0))
    assert sampler.speakers == ["A", "B"]
    assert sampler.speaker_probabilities == pytest.approx([30 / 50, 20 / 50])
    drawn = Counter()
    for seed in range(300):
        chosen = sampler.choose_vads(np.random.default_rng(seed))
        assert len({vad.speaker for vad in chosen}) == 1
        assert all(vad.duration >= 1.2 for vad in chosen)
        # VADs are added until their total passes 7 s: all but the last stay within it.
        assert sum(v.duration for v in chosen[:-1]) <= 7.0 < sum(v.duration for v in chosen)
        drawn[chosen[0].speaker] += 1
    assert drawn["A"] / 300 == pytest.approx(0.6, abs=0.08)


def test_a_pair_is_one_span_read_from_both_stretched_versions(speakers):
    root, vads = speakers
    sampler = AugmentationSampler(vads, root, AugmentationSettings(pairs_per_batch=40, max_batch_duration=7.0))
    batch = sampler.draw(np.random.default_rng(3))
    assert len(batch.waves) == 2 * len(sampler.choose_vads(np.random.default_rng(3)))
    assert batch.spans.shape == (40, 2, 3)
    assert all(0.5 <= f <= 1.8 for f in batch.factors)
    for first, second in batch.spans:
        assert first[0] // 2 == second[0] // 2 and first[0] != second[0]  # two versions of one VAD
        f1, f2 = batch.factors[first[0]], batch.factors[second[0]]
        # The same original span: start and end times agree once each side is un-stretched.
        for side, factor in ((first, f1), (second, f2)):
            start, end = side[1] * factor / 50, side[2] * factor / 50
            assert end - start > 0
            assert abs(start / 0.16 - round(start / 0.16)) * 0.16 <= factor / 100 + 1e-9
        assert abs(first[1] * f1 - second[1] * f2) / 50 <= (f1 + f2) / 100 + 1e-9
        assert abs(first[2] * f1 - second[2] * f2) / 50 <= (f1 + f2) / 100 + 1e-9
        for side in (first, second):
            assert len(batch.waves[side[0]]) / 16000 * 50 >= side[2] - 2
    again = sampler.draw(np.random.default_rng(3))
    np.testing.assert_array_equal(again.spans, batch.spans)


def test_no_eligible_speaker_is_a_clear_error(speakers):
    root, vads = speakers
    with pytest.raises(UserError, match="no speaker has 40 VADs of at least 1.2 s"):
        AugmentationSampler(vads, root, AugmentationSettings(min_vads_per_speaker=40))


def test_pair_sampler_skips_same_file_pairs_and_draws_distinct_pairs():
    pairs = [Pair(f"f{i}", "s", 0, 1, f"f{i + 1}", "t", 0, 1, 0.9) for i in range(50)]
    pairs.append(Pair("same", "s", 0, 1, "same", "s", 2, 3, 0.99))
    sampler = PairSampler(pairs, pairs_per_batch=20)
    assert sampler.dropped_same_file == 1 and len(sampler.pairs) == 50
    batch = sampler.draw(np.random.default_rng(0))
    assert len(batch) == len(set(batch)) == 20
    assert all(first.wav != second.wav for first, second in batch)
    with pytest.raises(UserError, match="no pair across two different files"):
        PairSampler(pairs[-1:])


def test_label_sampler_draws_labels_by_count_and_distinct_tokens():
    segments = [Segment(f"w{i}", "s", 0, 9, i, i + 0.5, "common") for i in range(6)]
    segments += [Segment(f"v{i}", "s", 0, 9, i, i + 0.5, "rare") for i in range(2)]
    segments += [Segment("u", "s", 0, 9, 0, 0.5, "alone")]
    sampler = LabelSampler(segments, pairs_per_batch=1)
    assert sampler.labels == ["common", "rare"]
    counts = Counter()
    for seed in range(2000):
        (first, second), = sampler.draw(np.random.default_rng(seed)).pairs
        assert first != second
        counts[first.wav[0]] += 1
    assert counts["w"] / 2000 == pytest.approx(6 / 8, abs=0.03)


def test_a_ten_word_vocabulary_still_fills_the_batch():
    segments = [Segment(f"{word}_{take}.wav", "s", 0, 1, 0, 0.5, str(word)) for word in range(10) for take in range(5)]
    batch = LabelSampler(segments, pairs_per_batch=64).draw(np.random.default_rng(3))
    assert len(batch.pairs) == len(batch.labels) == 64
    labels = LabelSampler(segments).labels
    for (first, second), label in zip(batch.pairs, batch.labels):
        assert first != second and first.wav.split("_")[0] == second.wav.split("_")[0] == labels[label]
    assert len(set(batch.labels.tolist())) == 10  # 64 draws over 10 equally likely words


def test_batch_rng_and_heldout_split_are_deterministic():
    assert batch_rng(1, 2, 3).random() == batch_rng(1, 2, 3).random() != batch_rng(1, 2, 4).random()
    assert batch_rng(1, 2, 3, stream=0).random() != batch_rng(1, 2, 3, stream=1).random()
    kept, heldout = split_heldout(list(range(1000)), 0.1, seed=5)
    assert sorted(kept + heldout) == list(range(1000)) and 60 < len(heldout) < 140
    assert split_heldout(list(range(1000)), 0.1, seed=5) == (kept, heldout)
