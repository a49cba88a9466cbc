"""Query-by-example (sse/inference/search.py, utils/search.py) against brute force."""
import numpy as np
import pytest

from sse.core.errors import UserError
from sse.frames.dumps import write_dump
from sse.frames.formats import Segment, format_segment_or_span
from sse.inference.search import nearest, parse_rows, precision_at_k
from tests.helpers import run_script


def brute_force(database, queries, k, exclude):
    """Cosine by hand: normalise, every inner product, full sort, drop excluded rows."""
    db = database / np.linalg.norm(database, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = q.astype(np.float64) @ db.T.astype(np.float64)
    ids, sims = [], []
    for row in range(len(q)):
        order = [i for i in np.argsort(-scores[row], kind="stable") if i not in set(exclude[row])][:k]
        ids.append(order)
        sims.append(scores[row, order])
    return np.array(sims), np.array(ids)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_nearest_matches_brute_force(backend):
    rng = np.random.default_rng(0)
    database = rng.normal(size=(3000, 24)).astype(np.float32) * rng.uniform(0.1, 5, size=(3000, 1)).astype(np.float32)
    queries = np.concatenate([database[[5, 17, 2999]], rng.normal(size=(4, 24)).astype(np.float32)])
    exclude = [[5], [17], [2999], [], [], [0, 1], []]
    found = nearest(database, queries, 7, exclude, backend=backend)
    sims, ids = brute_force(database, queries, 7, exclude)
    np.testing.assert_array_equal(found.ids, ids)
    np.testing.assert_allclose(found.similarities, sims, atol=1e-5)
    assert all(5 not in found.ids[0] for _ in [0]) and 0 not in found.ids[5] and 1 not in found.ids[5]
    assert np.all(np.diff(found.similarities, axis=1) <= 1e-6)  # highest first


def test_torch_search_matches_brute_force():
    rng = np.random.default_rng(1)
    database = rng.normal(size=(1050, 8)).astype(np.float32)
    queries = rng.normal(size=(6, 8)).astype(np.float32)
    found = nearest(database, queries, 12, backend="torch")
    sims, ids = brute_force(database, queries, 12, [[]] * 6)
    np.testing.assert_array_equal(found.ids, ids)


def test_fewer_rows_than_k_pad_with_minus_one():
    found = nearest(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)[:1], 5, [[0]])
    assert list(found.ids[0][:2]) != [] and list(found.ids[0][2:]) == [-1, -1, -1]


def test_precision_at_k_by_hand():
    labels = ["a", "a", "b", "b", "b", None, "c"]
    ids = np.array([[1, 2], [2, 3], [3, 0], [6, 5]])
    result = precision_at_k(ids, ["a", "a", "b", "c"], labels, [[0], [1], [2], [6]])
    # query 0 (a): 1/2; query 1 (a): 0/2; query 2 (b): 1/2; query 3 (c): its label occurs only in itself
    assert result.queries == 3 and result.value == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert precision_at_k(ids, [None] * 4, labels) is None


def test_parse_rows():
    assert parse_rows("0,3-5,9", 10) == [0, 3, 4, 5, 9]
    assert parse_rows("all", 3) == [0, 1, 2]
    for bad in ("10", "a", "5-3", "-1"):
        with pytest.raises(UserError):
            parse_rows(bad, 10)


def test_search_script_on_a_dump_matches_brute_force(tmp_path):
    rng = np.random.default_rng(2)
    segments = [Segment(f"w{i % 7}.wav", f"s{i % 3}", 0.0, 9.0, i * 0.01, i * 0.01 + 0.5, f"L{i % 5}")
                for i in range(60)]
    segments[10] = Segment("plain.wav", "-", 1.0, 1.5, 1.0, 1.5)  # a plain span, no label
    embeddings = rng.normal(size=(60, 16)).astype(np.float32)
    write_dump(tmp_path / "emb.npy", embeddings, segments, frontend={"name": "mfcc", "dim": 78, "frame_rate": 50})
    result = run_script("search.py", "--embeddings", tmp_path / "emb.npy", "--query_rows", "0,10,59", "--k", "4",
                        "--output", tmp_path / "found", check=True)
    lines = (tmp_path / "found").read_text().splitlines()
    sims, ids = brute_force(embeddings, embeddings[[0, 10, 59]], 4, [[0], [10], [59]])
    expected = []
    for number, row in enumerate([0, 10, 59]):
        expected.append(f"# query {number} (row {row}): {format_segment_or_span(segments[row])}")
        expected += [f"{format_segment_or_span(segments[i])} {s:.6f}" for i, s in zip(ids[number], sims[number])]
    assert lines[0] == "# query 0 (row 0): w0.wav s0 0 9 0 0.5 L0"
    assert lines[5] == "# query 1 (row 10): plain.wav 1 1.5"
    assert [line.rsplit(" ", 1)[0] for line in lines] == [line.rsplit(" ", 1)[0] for line in expected]
    got = [float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")]
    np.testing.assert_allclose(got, sims.ravel(), atol=2e-6)
    # Precision at 4 over the two labelled queries, by hand.
    labels = [s.transcription for s in segments]
    by_hand = np.mean([sum(labels[i] == labels[row] for i in ids[n]) / 4 for n, row in ((0, 0), (2, 59))])
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("P@4: ") and float(last.split()[1]) == pytest.approx(by_hand, abs=1e-4)


def test_search_refuses_a_dump_without_description(tmp_path):
    np.save(tmp_path / "bare.npy", np.zeros((3, 4), dtype=np.float32))
    result = run_script("search.py", "--embeddings", tmp_path / "bare.npy", "--query_rows", "0")
    assert result.returncode == 2 and "has no description bare.npy.json" in result.stderr


def test_hostile_rows_are_one_error_line(tmp_path):
    """A range far past the dump (not a traceback after trying to build it), and a dump with a
    poisoned row (-inf, as a segment shorter than a frame used to give): refused, never searched."""
    segments = [Segment("a.wav", "s", 0.0, 9.0, i * 0.1, i * 0.1 + 0.5, f"L{i % 2}") for i in range(6)]
    embeddings = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    write_dump(tmp_path / "emb.npy", embeddings, segments, frontend={"name": "mfcc", "dim": 78, "frame_rate": 50})
    result = run_script("search.py", "--embeddings", tmp_path / "emb.npy", "--query_rows", "0-9999999999")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "error: --query_rows: row 9999999999 does not exist (the database has rows 0..5)\n"
    embeddings[3] = -np.inf
    write_dump(tmp_path / "poisoned.npy", embeddings, segments, frontend={"name": "mfcc", "dim": 78, "frame_rate": 50})
    result = run_script("search.py", "--embeddings", tmp_path / "poisoned.npy", "--query_rows", "all")
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr.startswith(f"error: {tmp_path / 'poisoned.npy'}: row 3 ({format_segment_or_span(segments[3])}) "
                                    "holds -inf") and result.stderr.count("\n") == 1, result.stderr
