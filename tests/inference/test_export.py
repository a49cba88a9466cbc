"""utils/export_model.py: TorchScript and ONNX encoders give eager's embeddings on new shapes;
the compact format keeps the stored dtype."""
import json

import numpy as np
import pytest
import torch

from sse.inference.checkpoint import load_encoder, save_encoder
from sse.inference.export import PortableEncoder, export_torchscript
from sse.method.model import SSEEncoder
from tests.helpers import REPO, run_script

FRONTEND = {"name": "mfcc", "dim": 20, "frame_rate": 50}


pytestmark = pytest.mark.usefixtures("restore_logging")  # scripts run in this process


def export_model(*argv):
    """utils/export_model.py's main, in this process (torch is already loaded here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_model_script", REPO / "utils" / "export_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(7)
    encoder = SSEEncoder(input_dim=20)
    save_encoder(folder / "model.pt", encoder, FRONTEND)
    return folder, load_encoder(folder / "model.pt").encoder


def new_shapes():
    """Batches unlike the export's example (2 x 12): other batch sizes, times and paddings."""
    generator = torch.Generator().manual_seed(11)
    for batch, time, lengths in ((1, 5, [5]), (4, 31, [31, 3, 17, 1]), (3, 40, [40, 40, 26])):
        frames = torch.randn(batch, time, 20, generator=generator)
        lengths = torch.tensor(lengths)
        for row in range(batch):
            frames[row, lengths[row]:] = 0
        yield frames, lengths


def test_portable_encoder_is_the_eager_encoder(trained):
    _, encoder = trained
    portable = PortableEncoder(encoder)
    with torch.no_grad():
        for frames, lengths in new_shapes():
            torch.testing.assert_close(portable(frames, lengths), encoder(frames, lengths), atol=1e-6, rtol=0)


def test_torchscript_matches_eager_on_new_shapes(trained, tmp_path):
    folder, encoder = trained
    export_torchscript(encoder, tmp_path / "sse.pt")
    scripted = torch.jit.load(str(tmp_path / "sse.pt"))
    with torch.no_grad():
        for frames, lengths in new_shapes():
            torch.testing.assert_close(scripted(frames, lengths), encoder(frames, lengths), atol=1e-5, rtol=0)


def test_onnx_matches_eager_on_new_shapes(trained, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from onnx.reference import ReferenceEvaluator

    folder, encoder = trained
    export_model("--path_sse", folder / "model.pt", "--format", "onnx", "--output", tmp_path / "sse.onnx")
    card = json.loads((tmp_path / "sse.onnx.json").read_text())
    assert card["frontend"] == {**FRONTEND, "cmvn": "none"} and card["inputs"]["frames"] == ["batch", "time", 20]
    session = ReferenceEvaluator(onnx.load(str(tmp_path / "sse.onnx")))  # onnx's own interpreter
    with torch.no_grad():
        for frames, lengths in new_shapes():
            output = session.run(None, {"frames": frames.numpy(), "lengths": lengths.numpy()})[0]
            np.testing.assert_allclose(output, encoder(frames, lengths).numpy(), atol=1e-4)


def test_compact_format_keeps_its_dtype_unless_asked(trained, tmp_path):
    folder, encoder = trained
    save_encoder(tmp_path / "half.pt", encoder, FRONTEND, half=True)
    run_script("export_model.py", tmp_path / "half.pt", tmp_path / "kept", check=True)  # the seed's form
    export_model("--path_sse", tmp_path / "half.pt", "--output", tmp_path / "wide", "--dtype", "float32")
    export_model(folder / "model.pt", tmp_path / "halved", "--half")
    stored = {name: torch.load(tmp_path / name / "checkpoint_best.pt", weights_only=True)["encoder"]
              for name in ("kept", "wide", "halved")}
    assert {v.dtype for v in stored["kept"].values() if v.is_floating_point()} == {torch.float16}
    assert {v.dtype for v in stored["wide"].values() if v.is_floating_point()} == {torch.float32}
    assert {v.dtype for v in stored["halved"].values() if v.is_floating_point()} == {torch.float16}
    assert load_encoder(tmp_path / "kept").dtype == torch.float16
    original = torch.load(tmp_path / "half.pt", weights_only=True)["encoder"]
    assert all(torch.equal(original[k], stored["kept"][k]) for k in original)  # not re-rounded


def test_export_refuses_bad_requests(trained, tmp_path):
    folder, _ = trained
    result = run_script("export_model.py", "--path_sse", folder / "model.pt", "--format", "onnx",
                        "--output", tmp_path / "sse.pt")
    assert result.returncode == 2 and "must end in .onnx" in result.stderr
    result = run_script("export_model.py", "--path_sse", folder / "model.pt", "--format", "torchscript",
                        "--output", tmp_path / "sse.pt", "--half")
    assert result.returncode == 2 and "writes float32 graphs" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_export_embeds_a_span_as_sse_load_does(tmp_path):
    """The README's export example: a span's frames from span_frames (the span with its audio
    context, as the toolkit computes them), through the TorchScript file, give the embedding
    sse.load(...).embed_file gives. Frames of the span's audio alone do not (cosine about 0.97)."""
    import sse
    from sse.frames.audio import read_audio
    from sse.frames.frontend import build_frontend
    from sse.inference.export import span_frames

    export_model("--path_sse", REPO / "pretrained" / "demo_unsup", "--format", "torchscript",
                 "--output", tmp_path / "sse.pt")
    card = json.loads((tmp_path / "sse.pt.json").read_text())
    assert "span_frames" in card["frames"]
    scripted = torch.jit.load(str(tmp_path / "sse.pt"))
    wav = REPO / "training_data" / "demo" / "dev" / "1013" / "1013-2-0013.ogg"
    reference = sse.load(REPO / "pretrained" / "demo_unsup", device="cpu").embed_file(wav, 3.02, 3.35)

    def cosine(frames):
        with torch.no_grad():
            exported = scripted(frames[None], torch.tensor([len(frames)]))[0].numpy()
        return float(exported @ reference / np.linalg.norm(exported) / np.linalg.norm(reference))

    assert cosine(span_frames(card["frontend"], wav, 3.02, 3.35)) > 0.999
    alone = build_frontend(card["frontend"]["name"])(read_audio(wav, 3.02, 3.35))
    assert cosine(alone) < 0.99  # what the example used to show: the span's audio without context
