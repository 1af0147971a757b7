"""grouped_attention against a plain float64 softmax: outputs and gradients, with and without sinks."""

import pytest
import torch

from openweight.model.attention import attention_mask, grouped_attention


def reference(q, k, v, mask, scale, sinks):
    """Keys and values expanded to every query head, a sink as one more logit with no value."""
    heads = q.shape[1]
    k, v = (t.repeat_interleave(heads // t.shape[1], 1) for t in (k, v))
    scores = ((q @ k.transpose(-1, -2)) * scale).masked_fill(~mask, float("-inf"))
    if sinks is not None:
        scores = torch.cat((scores, sinks.view(1, heads, 1, 1).expand(*scores.shape[:3], 1)), -1)
    return scores.softmax(-1)[..., : k.shape[2]] @ v


@pytest.mark.parametrize("sinks", [False, True])
@pytest.mark.parametrize("window", [None, 5])
def test_attention_and_its_gradients_match_a_plain_softmax(sinks, window):
    torch.manual_seed(0)
    batch, heads, kv_heads, length, dim = 2, 6, 2, 19, 32
    q = torch.randn(batch, heads, length, dim, requires_grad=True)
    k, v = (torch.randn(batch, kv_heads, length, dim, requires_grad=True) for _ in range(2))
    s = torch.randn(heads, requires_grad=True) if sinks else None
    positions = torch.arange(length).expand(batch, -1).clone()
    positions[1, :4] = -1  # left padding in the second row
    mask = attention_mask(positions, positions, window)
    inputs = [t for t in (q, k, v, s) if t is not None]
    out = grouped_attention(q, k, v, mask, dim ** -0.5, s)
    upstream = torch.randn_like(out)
    grads = torch.autograd.grad((out * upstream).sum(), inputs)
    doubled = [t.detach().double().requires_grad_() for t in inputs]
    expected = reference(*doubled[:3], mask, dim ** -0.5, doubled[3] if sinks else None)
    expected_grads = torch.autograd.grad((expected * upstream.double()).sum(), doubled)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)
