"""The benchmark builder (sse/prep/benchmark.py) and the make_benchmark.py CLI."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from sse.core.errors import UserError
from sse.frames.formats import Vad, read_segment_list, write_vad_list
from sse.prep.alignments import Alignments, is_silence, write_alignment_file
from sse.prep.benchmark import BenchmarkConfig, build_benchmark, resolve_audio_paths
from sse.prep.labels import label_segments, normalise_phone
from sse.prep.speakers import speakers_from_regex
from tests.helpers import PAUSE, PHONE, SHORT_GAP, assert_clean_failure, long_textgrid, run_quiet, utterance

# ----------------------------------------------------------------------------- benchmark

CORPUS_SPEAKERS = {"A/A-1-1.wav": "A", "B/B-1-1.wav": "B", "C/C-1-1.wav": "C",
                   "A/A-1-2.wav": "A", "D/D-1-1.wav": "D"}


def corpus() -> Alignments:
    return Alignments({
        "A/A-1-1.wav": utterance("DH", "AH1", "K", "AE1", "T", PAUSE, "S", "AE1", "T"),
        # The 31 ms gap inside "the cat" is short enough for a span to cross it.
        "B/B-1-1.wav": utterance("DH", "AH0", "K", SHORT_GAP, "AE1", "T", 2 * PAUSE, "M", "AE1", "T",
                                 start=0.125),
        # The pause after "the" is a real pause: no span may cross it.
        "C/C-1-1.wav": utterance("DH", "AH1", PAUSE, "K", "AE1", "T", PAUSE, "S", "AE1", "T"),
        # Labelled non-speech ("sil", "spn") is silence like a gap.
        "A/A-1-2.wav": utterance("K", "AE1", "T", ("S", 0.125), ("sil", PAUSE), "DH", "AH1", "K"),
        "D/D-1-1.wav": utterance(("AA1", 0.5), ("R", 0.5), ("spn", PAUSE), ("AA2", 0.5),
                                 SHORT_GAP, "DH", "AH1", "K", "AE1", "T", "S"),
    })


def brute_force_spans(alignments: Alignments, config: BenchmarkConfig) -> dict[tuple, str]:
    """Every allowed span (wav, start, end) -> label, by plain loops over phone pairs."""
    spans = {}
    for wav, alignment in alignments.items():
        phones = [phone for phone in alignment.phones if not is_silence(phone.label)]
        for i in range(len(phones)):
            for j in range(i, len(phones)):
                if any(phones[k + 1].start - phones[k].end > config.max_gap + 1e-9
                       for k in range(i, j)):
                    break
                duration = phones[j].end - phones[i].start
                if config.min_duration - 1e-9 <= duration <= config.max_duration + 1e-9:
                    label = ",".join(normalise_phone(p.label, config.keep_stress)
                                     for p in phones[i:j + 1])
                    spans[(wav, phones[i].start, phones[j].end)] = label
    return spans


def multi_speaker(spans: dict[tuple, str], speaker_of) -> dict[tuple, str]:
    """The spans whose label is spoken by at least two speakers."""
    speakers = defaultdict(set)
    for span, label in spans.items():
        speakers[label].add(speaker_of(span))
    return {span: label for span, label in spans.items() if len(speakers[label]) >= 2}


def test_benchmark_is_exactly_the_allowed_multi_speaker_spans():
    alignments, config = corpus(), BenchmarkConfig()
    segments, summary = build_benchmark(alignments, config, speakers=CORPUS_SPEAKERS)
    allowed = brute_force_spans(alignments, config)
    expected = multi_speaker(allowed, lambda span: CORPUS_SPEAKERS[span[0]])
    assert {(s.wav, s.start, s.end): s.transcription for s in segments} == expected
    assert len(segments) == len(expected) > 10
    assert summary.candidate_spans == len(allowed)
    assert summary.single_speaker == len(allowed) - len(expected)
    # Spot checks of the rules the brute force encodes.
    labels = {s.transcription for s in segments}
    assert "DH,AH,K,AE,T" in labels                    # A, B (across its 31 ms gap), D
    assert not any(s.wav == "C/C-1-1.wav" and s.start < 0.125 + PAUSE < s.end for s in segments)
    assert all(",AA" not in label and not label.startswith("AA,R,AA") for label in labels)


def test_benchmark_segments_are_phone_aligned_bounded_and_relabel_to_themselves():
    alignments, config = corpus(), BenchmarkConfig(min_duration=0.125, max_duration=0.3125)
    segments, summary = build_benchmark(alignments, config, speakers=CORPUS_SPEAKERS)
    # Both bounds are inclusive: two 62.5 ms phones make a 0.125 s span, five a 0.3125 s one
    # ("the cat" of A and D; B's, 31 ms longer for its gap, is out).
    expected = multi_speaker(brute_force_spans(alignments, config),
                             lambda span: CORPUS_SPEAKERS[span[0]])
    assert {(s.wav, s.start, s.end) for s in segments} == set(expected)
    assert {0.125, 0.3125} <= {s.duration for s in segments}
    assert {s.wav for s in segments if s.transcription == "DH,AH,K,AE,T"} == {"A/A-1-1.wav",
                                                                            "D/D-1-1.wav"}
    for segment in segments:
        phones = alignments.get(segment.wav).phones
        assert segment.start in {p.start for p in phones} and segment.end in {p.end for p in phones}
        assert 0.125 <= segment.duration <= 0.3125
        assert (segment.vad_start, segment.vad_end) == (segment.start, segment.end)
        assert segment.speaker == CORPUS_SPEAKERS[segment.wav]
    speakers_of = defaultdict(set)
    for segment in segments:
        speakers_of[segment.transcription].add(segment.speaker)
    assert all(len(names) >= 2 for names in speakers_of.values())
    assert summary.multi_speaker_labels == summary.labels == len(speakers_of)
    # The labelling rule gives every benchmark span exactly the phones it was built from.
    assert label_segments(segments, alignments) == [s.transcription for s in segments]
    assert segments == sorted(segments, key=lambda s: (s.wav, s.start, s.end))


def test_gap_threshold_decides_which_spans_cross_silence():
    alignments = corpus()
    strict, _ = build_benchmark(alignments, BenchmarkConfig(max_gap=0.0), speakers=CORPUS_SPEAKERS)
    loose, _ = build_benchmark(alignments, BenchmarkConfig(max_gap=0.3), speakers=CORPUS_SPEAKERS)
    crosses_b_gap = lambda s: s.wav == "B/B-1-1.wav" and s.start < 0.125 + 3 * PHONE < s.end  # noqa: E731
    assert not any(crosses_b_gap(s) for s in strict)
    assert any(crosses_b_gap(s) for s in loose)
    # With 0.3 s allowed, C's "DH AH1 <pause> K AE1 T" spans "the cat" like the others.
    assert any(s.wav == "C/C-1-1.wav" and s.transcription == "DH,AH,K,AE,T" for s in loose)


def cap_corpus() -> tuple[Alignments, dict[str, str]]:
    """"S AE1 T" said six times: three times by A, twice by B, once by C."""
    files, speakers = {}, {}
    for number, speaker in enumerate("AAABBC"):
        wav = f"{speaker}/{speaker}-1-{number}.wav"
        files[wav] = utterance("S", "AE1", "T", PAUSE, "M", "AA1", "P", ("IY0", 0.125 * (number + 1)))
        speakers[wav] = speaker
    return Alignments(files), speakers


@pytest.mark.parametrize("cap", [2, 3, 4])
def test_cap_per_label_spreads_over_speakers(cap):
    alignments, speakers = cap_corpus()
    uncapped, _ = build_benchmark(alignments, BenchmarkConfig(), speakers=speakers)
    assert len([s for s in uncapped if s.transcription == "S,AE,T"]) == 6
    chosen_files = set()
    for seed in range(12):
        segments, summary = build_benchmark(
            alignments, BenchmarkConfig(max_per_label=cap, seed=seed), speakers=speakers)
        sat = [s for s in segments if s.transcription == "S,AE,T"]
        assert len(sat) == cap
        # Round-robin: every speaker gives a token before any gives a second.
        assert len({s.speaker for s in sat}) == min(cap, 3)
        assert set(segments) <= set(uncapped)
        assert summary.over_cap == len(uncapped) - len(segments)
        chosen_files.update(s.wav for s in sat if s.speaker == "A")
        again, _ = build_benchmark(alignments, BenchmarkConfig(max_per_label=cap, seed=seed),
                                   speakers=speakers)
        assert again == segments
    assert len(chosen_files) > 1  # the seed really changes which of A's tokens is drawn


def test_max_segments_keeps_whole_labels():
    alignments, config = corpus(), BenchmarkConfig(max_per_label=3, seed=5)
    full, _ = build_benchmark(alignments, config, speakers=CORPUS_SPEAKERS)
    full_by_label = defaultdict(set)
    for segment in full:
        full_by_label[segment.transcription].add(segment)
    assert len(full) > 8
    capped, summary = build_benchmark(
        alignments, BenchmarkConfig(max_per_label=3, max_segments=8, seed=5), speakers=CORPUS_SPEAKERS)
    assert 8 - 3 < len(capped) <= 8
    capped_by_label = defaultdict(set)
    for segment in capped:
        capped_by_label[segment.transcription].add(segment)
    assert all(tokens == full_by_label[label] for label, tokens in capped_by_label.items())
    uncapped, _ = build_benchmark(alignments, BenchmarkConfig(), speakers=CORPUS_SPEAKERS)
    assert summary.over_cap == len(uncapped) - len(capped)


def test_vads_give_speaker_and_vad_fields_and_drop_spans_outside():
    alignments, config = corpus(), BenchmarkConfig()
    vads = [
        Vad("A/A-1-1.wav", "spkA", 0.0, 0.3125),             # "the cat" only; "sat" is outside
        Vad("B/B-1-1.wav", "spkB", 0.0, 2.0),                 # all of B...
        Vad("B/B-1-1.wav", "spkB", 0.1, 0.2),                 # ...and a later, shorter one inside
        Vad("D/D-1-1.wav", "spkD", 1.5, 3.0),
        Vad("C/C-1-1.wav", "spkC", 0.0, 10.0),
        Vad("unaligned.wav", "spkX", 0.0, 1.0),               # no alignment: ignored
    ]                                                        # A-1-2 has no VAD: all dropped
    segments, summary = build_benchmark(alignments, config, vads=vads)
    allowed = brute_force_spans(alignments, config)
    inside = {span: label for span, label in allowed.items()
              if any(v.wav == span[0] and v.start <= span[1] and span[2] <= v.end for v in vads)}
    speaker_of_wav = {vad.wav: vad.speaker for vad in vads}
    expected = multi_speaker(inside, lambda span: speaker_of_wav[span[0]])
    assert {(s.wav, s.start, s.end): s.transcription for s in segments} == expected
    assert summary.outside_vad == len(allowed) - len(inside) > 0
    for segment in segments:
        assert segment.vad in vads and segment.speaker == segment.vad.speaker
        assert segment.vad_start <= segment.start and segment.end <= segment.vad_end
    # B's spans starting at 0.125 lie in the long VAD, not in the later-starting short one.
    assert any(s.wav == "B/B-1-1.wav" and s.vad_end == 2.0 and s.start == 0.125 for s in segments)


def test_vad_paths_with_other_extension_match_extensionless_alignments():
    # Key "S/u" sorts before "S/u-2", but "S/u-2.flac" before "S/u.flac": the output follows
    # the paths it writes.
    files = {"S/u": utterance("DH", "AH1", "K"), "S/u-2": utterance("DH", "AH0", "K")}
    vads = [Vad("S/u.flac", "A", 0.0, 1.0), Vad("S/u-2.flac", "B", 0.0, 1.0)]
    segments, _ = build_benchmark(Alignments(files), BenchmarkConfig(), vads=vads)
    assert [(s.wav, s.speaker, s.transcription) for s in segments] == [
        ("S/u-2.flac", "B", "DH,AH,K"), ("S/u.flac", "A", "DH,AH,K")]


def test_speaker_regex_and_audio_path_resolution(tmp_path):
    paths = ["dev-clean/1272/128104/1272-128104-0000.flac", "84/121123/84-121123-0001"]
    assert speakers_from_regex(paths) == {paths[0]: "1272", paths[1]: "84"}
    assert speakers_from_regex(["spk7/utt.wav"], r"^(spk\d+)/") == {"spk7/utt.wav": "spk7"}
    with pytest.raises(UserError, match="finds no speaker id in this path"):
        speakers_from_regex(["no_speaker_here.wav"])
    (tmp_path / "dev" / "1").mkdir(parents=True)
    (tmp_path / "dev" / "1" / "1-2-3.flac").touch()
    (tmp_path / "dev" / "1" / "1-2-4.wav").touch()
    (tmp_path / "dev" / "1" / "1-2-4.flac").touch()
    assert resolve_audio_paths(["dev/1/1-2-3"], tmp_path) == {"dev/1/1-2-3": "dev/1/1-2-3.flac"}
    with pytest.raises(UserError, match="several audio files"):
        resolve_audio_paths(["dev/1/1-2-4"], tmp_path)
    with pytest.raises(UserError, match="no audio file"):
        resolve_audio_paths(["dev/1/1-2-5"], tmp_path)


def test_config_rejects_caps_that_would_break_the_two_speaker_rule():
    with pytest.raises(UserError, match="max_per_label"):
        build_benchmark(corpus(), BenchmarkConfig(max_per_label=1), speakers=CORPUS_SPEAKERS)
    with pytest.raises(UserError, match="min_duration"):
        build_benchmark(corpus(), BenchmarkConfig(min_duration=1.0, max_duration=0.5),
                        speakers=CORPUS_SPEAKERS)


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def librispeech_like(tmp_path):
    """The test corpus under LibriSpeech-style names, as an alignment file and as TextGrids."""
    renamed = {wav: f"dev-clean/{ord(CORPUS_SPEAKERS[wav]) - 60}/7/"
                    f"{ord(CORPUS_SPEAKERS[wav]) - 60}-7-{number}.flac"
               for number, wav in enumerate(CORPUS_SPEAKERS)}
    alignments = Alignments({renamed[wav]: alignment for wav, alignment in corpus().items()})
    write_alignment_file(tmp_path / "align.txt", alignments)
    return tmp_path, alignments


def test_make_benchmark_cli_with_librispeech_names(librispeech_like):
    tmp_path, alignments = librispeech_like
    output = tmp_path / "bench" / "dev-clean-ngrams"
    result = run_quiet("make_benchmark.py", "--alignments", tmp_path / "align.txt",
                        "--output", output, "--max_per_label", 2, "--seed", 3)
    assert result.returncode == 0, result.stderr
    segments = read_segment_list(output, require_transcriptions=True)
    expected, summary = build_benchmark(
        alignments, BenchmarkConfig(max_per_label=2, seed=3),
        speakers={wav: wav.split("/")[1] for wav, _ in alignments.items()})
    assert segments == expected
    assert {s.speaker for s in segments} <= {"5", "6", "7", "8"}
    assert f"{summary.segments} segments, {summary.labels} labels" in result.stdout
    assert summary.segments == len(segments) > 0


def test_make_benchmark_cli_with_vads(librispeech_like):
    tmp_path, alignments = librispeech_like
    vads = [Vad(wav, "spk" + wav.split("/")[1], 0.0, 10.0) for wav, _ in alignments.items()]
    write_vad_list(tmp_path / "vads.txt", vads)
    output = tmp_path / "bench.txt"
    result = run_quiet("make_benchmark.py", "--alignments", tmp_path / "align.txt",
                        "--vads", tmp_path / "vads.txt", "--output", output)
    assert result.returncode == 0, result.stderr
    segments = read_segment_list(output, require_transcriptions=True)
    assert segments and all(s.speaker.startswith("spk") and s.vad_end == 10.0 for s in segments)


def test_make_benchmark_cli_resolves_textgrid_paths(librispeech_like, tmp_path):
    _, alignments = librispeech_like
    for wav, alignment in alignments.items():
        textgrid = tmp_path / "tg" / Path(wav).with_suffix(".TextGrid")
        textgrid.parent.mkdir(parents=True, exist_ok=True)
        textgrid.write_text(long_textgrid(
            [("phones", [(p.start, p.end, p.label) for p in alignment.phones])], xmax=10))
        audio = tmp_path / "LS" / wav
        audio.parent.mkdir(parents=True, exist_ok=True)
        audio.touch()
    output = tmp_path / "bench.txt"
    missing_root = run_quiet("make_benchmark.py", "--alignments", tmp_path / "tg", "--output", output)
    assert_clean_failure(missing_root, output, "--path_wavs")
    result = run_quiet("make_benchmark.py", "--alignments", tmp_path / "tg", "--output", output,
                        "--path_wavs", tmp_path / "LS")
    assert result.returncode == 0, result.stderr
    segments = read_segment_list(output)
    assert segments and all(s.wav.endswith(".flac") and s.wav in alignments for s in segments)


@pytest.mark.parametrize("extra, fragments", [
    (["--speaker_regex", r"^(spk\d+)/"], ["finds no speaker id"]),
    (["--max_per_label", "1"], ["--max_per_label: 1 is out of range"]),
    (["--vads", "VADS", "--speaker_regex", "x"], ["either --path_vads"]),
    (["--vads", "BADVADS"], ["badvads.txt:1", "expected 4 fields"]),
])
def test_make_benchmark_cli_bad_input(librispeech_like, extra, fragments):
    tmp_path, alignments = librispeech_like
    write_vad_list(tmp_path / "vads.txt", [Vad(wav, "s", 0, 10) for wav, _ in alignments.items()])
    (tmp_path / "badvads.txt").write_text("a.wav spk 0\n")
    extra = [{"VADS": tmp_path / "vads.txt", "BADVADS": tmp_path / "badvads.txt"}.get(arg, arg)
             for arg in extra]
    output = tmp_path / "bench.txt"
    result = run_quiet("make_benchmark.py", "--alignments", tmp_path / "align.txt",
                        "--output", output, *extra)
    assert_clean_failure(result, output, *fragments)
