"""The fast decode path: fused projections compute what the separate ones did, and decoding through
torch.compile (static cache) gives the eager path's tokens."""

import pytest
import torch

import openweight
from openweight.engine.generate import generate_ids
from openweight.errors import GenerationError
from openweight.model.fuse import fuse_projections, is_fused


def test_fused_projections_give_the_same_logits_and_refuse_saving(hf_checkpoint, tmp_path):
    _, folder = hf_checkpoint
    plain, fused = openweight.load(folder), openweight.load(folder)
    fuse_projections(fused.model)
    assert is_fused(fused.model) and not is_fused(plain.model)
    ids = torch.randint(0, plain.config.vocab_size, (2, 17))
    torch.testing.assert_close(fused.logits(ids), plain.logits(ids), rtol=1e-5, atol=1e-5)
    with pytest.raises(GenerationError, match="save the model loaded without"):
        fused.save(tmp_path / "out")


@pytest.mark.parametrize("family", ["llama", "gpt_oss"])
def test_compiled_decoding_gives_the_eager_tokens(hf_checkpoint):
    """Greedy, two prompts of different lengths (left padding), past gpt_oss's 8-token window."""
    _, folder = hf_checkpoint
    lm = openweight.load(folder, compile=True)
    prompts = [[5, 9, 13, 2, 7], [11, 3]]
    eager = list(generate_ids(lm.model, prompts, 24))
    compiled = list(generate_ids(lm.model, prompts, 24, compile=True))
    assert compiled == eager
    again = list(generate_ids(lm.model, [[4, 4, 8]], 10, compile=True))  # another shape: compiles again
    assert again == list(generate_ids(lm.model, [[4, 4, 8]], 10))
