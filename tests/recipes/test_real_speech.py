"""Stage 1 on real recorded speech: 150 takes of spoken digits (tests/data/fsdd, CC BY-SA 4.0).

Raw MFCCs made stage 1 collapse on real speech (loss at chance, every embedding alike); with
per-waveform CMVN it learns. This trains the real training model (front-end on the fly, the
plugin's model, NT-Xent) on stage-1 batches of sessions made by ``make_word_corpus``.
"""
import math

import numpy as np
import pytest
import torch

from sse.frames.formats import read_segment_list, read_vad_list
from sse.frames.frontend import build_frontend
from sse.inference.embed import embed_frames, frames_on_the_fly, vad_statistics
from sse.method.health import embedding_health
from sse.method.loss import nt_xent
from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder
from sse.method.sampling import AugmentationSampler, AugmentationSettings, batch_rng
from sse.prep.word_corpus import build_word_corpus, tokens_from_pattern
from tests.helpers import DATA

pytest.importorskip("fairseq")
from sse.plugin.model import SSEModel  # noqa: E402
from sse.plugin.tasks import waves_sample  # noqa: E402

pytestmark = pytest.mark.slow  # trains stage 1 on real recordings

RECORDINGS = DATA / "fsdd"
PAIRS = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdd") / "corpus"
    build_word_corpus(RECORDINGS, tokens_from_pattern(RECORDINGS), root, heldout_fraction=0.2, progress=False)
    return root


def benchmark_embeddings(model, frontend, corpus):
    benchmark = read_segment_list(corpus / "benchmark")
    return embed_frames(model.encoder, frames_on_the_fly(frontend, corpus, benchmark, progress=False),
                        len(benchmark), progress=False)


def test_stage1_learns_on_real_speech(corpus):
    torch.manual_seed(0)
    frontend = build_frontend("mfcc")  # with per-speaker CMVN, the default
    vads = read_vad_list(corpus / "vads")
    frontend.speaker_stats = vad_statistics(frontend, corpus, vads, progress=False)  # as stage 1 takes them
    settings = AugmentationSettings(pairs_per_batch=PAIRS, min_vads_per_speaker=2, max_batch_duration=10)
    sampler = AugmentationSampler(vads, corpus, settings)
    model = SSEModel(SSEEncoder(EncoderConfig(input_dim=frontend.dim)), ProjectionHead(512), frontend, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    losses = []
    for update in range(40):
        projections = model(**waves_sample(sampler.draw(batch_rng(0, 1, update)))["net_input"])
        loss = nt_xent(projections[:PAIRS], projections[PAIRS:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    chance = math.log(2 * PAIRS - 1)
    assert np.mean(losses[:3]) > chance - 0.4           # starts near chance ...
    assert np.mean(losses[-5:]) < chance - 1.0          # ... and ends well below it
    # ... also on a batch it never trained on (another speaker draw, other spans, other stretches)
    model.eval()
    with torch.no_grad():
        projections = model(**waves_sample(sampler.draw(batch_rng(0, 2, 0)))["net_input"])
    assert nt_xent(projections[:PAIRS], projections[PAIRS:]).item() < chance - 1.0
    # The held-out isolated takes are not embedded alike (a collapsed model maps them to one point).
    health = embedding_health(benchmark_embeddings(model, frontend, corpus))
    assert not health.collapsed and health.effective_rank > 20, health
