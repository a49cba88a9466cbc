import torch

from sse.method.model import EncoderConfig, MeanPooling, ProjectionHead, SSEEncoder


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_matches_the_paper_for_768_dim_input():
    encoder = SSEEncoder(input_dim=768)
    # LayerNorm 1,536 + Conv1d 3,146,752 + Transformer layer 3,152,384.
    assert count(encoder) == 6_300_672
    # With the training-time projection head: the paper's "about 6.8 M".
    assert count(encoder) + count(ProjectionHead(512)) == 6_825_984


def test_padding_does_not_change_an_embedding():
    torch.manual_seed(0)
    encoder = SSEEncoder(input_dim=20).eval()
    frames = torch.randn(3, 40, 20)
    lengths = torch.tensor([40, 13, 8])
    batched = encoder(frames, lengths)
    for row in range(3):
        alone = encoder(frames[row:row + 1, :lengths[row]])
        torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)
    # Garbage in the padded part changes nothing either.
    noisy = frames.clone()
    noisy[1, 13:] = 1e3
    torch.testing.assert_close(encoder(noisy, lengths), batched, atol=1e-5, rtol=1e-5)


def test_architecture_follows_the_spec():
    encoder = SSEEncoder(EncoderConfig(input_dim=768))
    assert encoder.conv.kernel_size == (4,) and encoder.conv.out_channels == 1024
    layer = encoder.transformer
    assert layer.self_attn.num_heads == 4 and layer.linear1.out_features == 2048
    assert not layer.norm_first and layer.dropout.p == 0.3
    assert encoder(torch.randn(2, 9, 768)).shape == (2, 512)
    # Xavier-uniform weights and zero biases.
    assert torch.count_nonzero(encoder.conv.bias) == 0
    bound = (6 / (768 * 4 + 1024 * 4)) ** 0.5
    assert encoder.conv.weight.abs().max() <= bound


def test_mean_pooling_ignores_padding():
    frames = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert MeanPooling(1)(frames, torch.tensor([2])).item() == 2.0
