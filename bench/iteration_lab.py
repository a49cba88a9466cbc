#!/usr/bin/env python
"""The k-NN iteration's laboratory: train one stage-2 variant on fixed inputs, print its MAP curve.

It reads an experiment folder that ``bench/real_speech.sh`` or ``run_demo.sh`` left (segments,
feature stores, the stage-1 model, the benchmark) and trains, in this process, the stage-2 model
on a pair list with the toolkit's encoder, projection head, NT-Xent, Adam and batch samplers,
scoring the exact benchmark MAP before the first update and every ``--eval_every`` updates
(``--augment_share 1 --effects pitch,noise``: stage 1 alone, with effects). One run is one line of a
results table (``--table``), so an ablation is a few commands:

    EXP=bench_runs/fsdd; C="--exp $EXP --corpus $EXP/corpus --benchmark $EXP/corpus/benchmark"
    python bench/iteration_lab.py $C --pairs $EXP/iter1/pairs --name mined
    python bench/iteration_lab.py $C --oracle $EXP/corpus/tokens --name oracle-words
    python bench/iteration_lab.py $C --oracle $EXP/corpus/tokens --oracle_grid --name oracle-grid
    python bench/iteration_lab.py $C --augment_share 1 --name stage-1-only
    python bench/iteration_lab.py $C --pairs $EXP/iter1/pairs --stretch_pairs 4 --name mined-stretched

Pair sources: a pair list (``--pairs``), or oracle pairs made from labelled tokens
(``--oracle``; ``sse/evaluation/oracle.py``), as whole tokens or as the grid segments that best cover them
(``--oracle_grid``), sized and shaped like a mined list (``--like``). ``--augment_share`` puts
stage-1 augmentation pairs (time-stretched spans, computed on the fly) into every batch, and
``--init`` starts from a checkpoint instead of a fresh model; ``--stretch_pairs N`` reads each
side of a mined pair from N time-stretched versions of its VAD (the store ``iteration.sh`` builds
with ``SSE_STRETCH_PAIRS=N``, made here if missing). It is not a test: it prints.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sse.defaults import LEARNING_RATE  # noqa: E402
from sse.evaluation.metrics import mean_average_precision  # noqa: E402
from sse.evaluation.oracle import label_grid_segments, oracle_pairs  # noqa: E402
from sse.frames.feature_store import FeatureStore  # noqa: E402
from sse.frames.formats import read_pair_list, read_segment_list, read_vad_list  # noqa: E402
from sse.frames.frontend import build_frontend, frontend_from_description  # noqa: E402
from sse.inference.checkpoint import _torch_load, resolve_checkpoint, save_encoder  # noqa: E402
from sse.inference.embed import embed_frames, frames_from_store  # noqa: E402
from sse.method.augment import Effects  # noqa: E402
from sse.method.loss import nt_xent  # noqa: E402
from sse.method.model import EncoderConfig, ProjectionHead, SSEEncoder  # noqa: E402
from sse.method.sampling import (  # noqa: E402
    AugmentationSampler,
    AugmentationSettings,
    PairSampler,
    StretchedPairSampler,
    batch_rng,
)
from sse.method.stretch_store import StretchStore, build_stretch_store  # noqa: E402
from sse.plugin.model import SSEModel  # noqa: E402
from sse.plugin.tasks import frames_sample, waves_sample  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--exp", required=True, help="experiment folder of recipe.sh --profile small")
    parser.add_argument("--corpus", required=True, help="corpus root ($LS)")
    parser.add_argument("--benchmark", required=True, help="labelled benchmark segment list")
    parser.add_argument("--frontend_tag", default="mfcc", help="EXP/features/TAG/{train,benchmark}")
    parser.add_argument("--name", required=True, help="row name in the table")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pairs", help="pair list to train on")
    source.add_argument("--oracle", help="labelled tokens (segment list) to make oracle pairs from")
    parser.add_argument("--oracle_grid", action="store_true",
                        help="oracle sides are the training grid segments that cover a token (IoU >= 0.5)")
    parser.add_argument("--like", help="mined pair list whose size (and, with --match_speakers, "
                        "same-speaker share) the oracle copies")
    parser.add_argument("--match_speakers", action="store_true", help="copy --like's same-speaker share")
    parser.add_argument("--same_speaker_share", type=float, help="share of oracle pairs within a speaker")
    parser.add_argument("--wrong_share", type=float, default=0.0, help="share of oracle pairs made wrong")
    parser.add_argument("--augment_share", type=float, default=0.0,
                        help="share of each batch's pairs from stage-1 augmentation (1: stage 1 alone)")
    parser.add_argument("--effects", default="", help="stage-1 effects besides time stretch, e.g. pitch,noise "
                                                     "(sse/method/augment.py EFFECTS)")
    parser.add_argument("--vads", help="training VAD list for augmentation pairs (default: CORPUS/vads)")
    parser.add_argument("--max_batch_duration", type=float, default=10.0)
    parser.add_argument("--stretch_pairs", type=int, default=0,
                        help="read each side of a pair from one of N time-stretched versions of its VAD "
                             "(sse/method/stretch_store.py; computed once into EXP/features/TAG/train-stretchedN, "
                             "the store iteration.sh uses with SSE_STRETCH_PAIRS=N)")
    parser.add_argument("--init", help="checkpoint to start from (default: a fresh model)")
    parser.add_argument("--updates", type=int, default=240)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="Adam's learning rate")
    parser.add_argument("--eval_every", type=int, default=40)
    parser.add_argument("--pairs_per_batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--table", default="bench_runs/iteration_lab.tsv", help="results table to append to")
    parser.add_argument("--save", help="write the encoder of the best MAP here, in the toolkit's checkpoint "
                        "format (utils/mine_pairs.py --path_sse reads it)")
    return parser.parse_args()


def pairs_of(args, segments) -> list | None:
    if args.pairs:
        return read_pair_list(args.pairs)
    if not args.oracle:
        return None
    tokens = read_segment_list(args.oracle, require_transcriptions=True)
    like = read_pair_list(args.like) if args.like else None
    like_across = [p for p in like if p.wav1 != p.wav2] if like else None
    count = len(like_across) if like_across else 20000
    share = args.same_speaker_share
    if args.match_speakers and like_across:
        share = float(np.mean([p.speaker1 == p.speaker2 for p in like_across]))
    candidates = tokens
    if args.oracle_grid:
        labels = label_grid_segments(segments, tokens)
        candidates = [s._replace(transcription=label) for s, label in zip(segments, labels) if label is not None]
    print(f"oracle: {count} pairs from {len(candidates)} candidates, same-speaker share "
          f"{'any' if share is None else f'{share:.3f}'}, wrong share {args.wrong_share}", flush=True)
    return oracle_pairs(candidates, count, share, args.wrong_share, seed=args.seed)


def stretch_sampler(args, store, pairs, count) -> StretchedPairSampler:
    """Mined pairs read from N stretched versions of their VADs, as iteration.sh reads them."""
    directory = Path(args.exp) / "features" / args.frontend_tag / f"train-stretched{args.stretch_pairs}"
    frontend = frontend_from_description(store.frontend)
    build_stretch_store(store, args.corpus, directory, frontend, args.stretch_pairs, num_workers=0)
    return StretchedPairSampler(pairs, StretchStore(directory, store), count)


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    exp = Path(args.exp)
    train_store = FeatureStore(exp / "features" / args.frontend_tag / "train")
    bench_store = FeatureStore(exp / "features" / args.frontend_tag / "benchmark")
    segments = read_segment_list(exp / "segments")
    benchmark = read_segment_list(args.benchmark, require_transcriptions=True)
    bench_frames = [np.asarray(f, dtype=np.float32) for _, f in frames_from_store(bench_store, benchmark)]
    bench_labels = [s.transcription for s in benchmark]

    pairs = pairs_of(args, segments)
    augment_pairs = int(round(args.augment_share * args.pairs_per_batch))
    mined_pairs = args.pairs_per_batch - augment_pairs
    sampler = None
    if pairs and mined_pairs:
        sampler = (stretch_sampler(args, train_store, pairs, mined_pairs) if args.stretch_pairs
                   else PairSampler(pairs, mined_pairs))
    pair_sampler = sampler.pairs if isinstance(sampler, StretchedPairSampler) else sampler
    augmenter = frontend = None
    if augment_pairs:
        frontend = build_frontend(train_store.frontend["name"], cmvn=train_store.frontend.get("cmvn"))
        frontend.speaker_stats = train_store.stats  # per-speaker CMVN: the training speakers' statistics
        settings = AugmentationSettings(pairs_per_batch=augment_pairs, max_batch_duration=args.max_batch_duration,
                                        effects=Effects.from_names([e for e in args.effects.split(",") if e]))
        augmenter = AugmentationSampler(read_vad_list(args.vads or Path(args.corpus) / "vads"), args.corpus, settings)

    encoder = SSEEncoder(EncoderConfig(input_dim=int(train_store.frontend["dim"])))
    projection = ProjectionHead(encoder.output_dim)
    if args.init:
        state = _torch_load(resolve_checkpoint(args.init))["model"]
        encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
        projection.load_state_dict({k[11:]: v for k, v in state.items() if k.startswith("projection.")})
    parameters = list(encoder.parameters()) + list(projection.parameters())
    optimizer = torch.optim.Adam(parameters, lr=args.lr)

    def evaluate() -> float:
        embeddings = embed_frames(encoder, enumerate(bench_frames), len(bench_frames), progress=False)
        return mean_average_precision(embeddings, bench_labels).map

    model = SSEModel(encoder, projection, frontend, length_buckets=4)  # what fairseq-train runs

    def save_if_best(score: float) -> None:
        if args.save and score >= max(m for _, m in curve):
            save_encoder(args.save, encoder, train_store.frontend, {"lab": args.name, "map": score})

    curve = [(0, evaluate())]  # the model before any update: fresh weights, or --init's
    save_if_best(curve[0][1])
    started = time.time()
    losses = []
    for update in range(1, args.updates + 1):
        rng = batch_rng(args.seed, 1, update)
        encoder.train(), projection.train()
        firsts, seconds = [], []
        if sampler:
            drawn = sampler.draw(rng)
            if not args.stretch_pairs:
                drawn = [(train_store.frames(*first), train_store.frames(*second)) for first, second in drawn]
            out = model(**frames_sample(drawn)["net_input"])  # first sides, then second sides
            half = len(out) // 2
            firsts.append(out[:half]), seconds.append(out[half:])
        if augmenter:
            batch = augmenter.draw(rng)  # the model crops the stretched waves' frames, as in stage 1
            out = model(**waves_sample(batch)["net_input"])
            half = len(out) // 2
            firsts.append(out[:half]), seconds.append(out[half:])
        loss = nt_xent(torch.cat(firsts), torch.cat(seconds))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if update % args.eval_every == 0 or update == args.updates:
            curve.append((update, evaluate()))
            save_if_best(curve[-1][1])
            print(f"{args.name}: update {update}: loss {np.mean(losses[-args.eval_every:]):.3f} "
                  f"MAP {curve[-1][1]:.4f} ({time.time() - started:.0f} s)", flush=True)
    best_update, best = max(curve, key=lambda point: point[1])
    line = {"name": args.name, "best": round(best, 4), "at": best_update, "last": round(curve[-1][1], 4),
            "curve": " ".join(f"{u}:{m:.4f}" for u, m in curve),
            "pairs": len(pair_sampler.pairs) if sampler else 0, "seconds": round(time.time() - started)}
    print(json.dumps(line), flush=True)
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    with open(args.table, "a") as table:
        table.write("\t".join(str(v) for v in line.values()) + "\n")


if __name__ == "__main__":
    main()
