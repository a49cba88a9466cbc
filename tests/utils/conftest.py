"""The fixtures the script tests share."""
import pytest
import torch

from sse.inference.checkpoint import save_encoder
from sse.method.model import SSEEncoder
from tests.helpers import MFCC_DESCRIPTION, run_inprocess


@pytest.fixture(scope="module")
def store(word_corpus, tmp_path_factory):
    """A finished two-shard MFCC feature store of the word corpus, and a random model for it."""
    folder = tmp_path_factory.mktemp("reliability")
    code, _, stderr = run_inprocess("extract_features.py", "--path_wavs", word_corpus.root, "--path_vads",
                                    word_corpus.vads, "--output_dir", folder / "features", "--frontend", "mfcc",
                                    "--nshards", "2", "--num_workers", "0", "--device", "cpu")
    assert code == 0, stderr
    torch.manual_seed(0)
    save_encoder(folder / "model.pt", SSEEncoder(input_dim=78), MFCC_DESCRIPTION)
    return folder
