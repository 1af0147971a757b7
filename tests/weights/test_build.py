"""Building a model with meta tensors skips torch.nn.init on those only."""

import threading

import torch

from openweight.weights.build import _initialisers_skipped


def test_init_still_fills_real_tensors_while_a_meta_model_is_built():
    """The skip is process-wide while a model is built: a real tensor filled meanwhile (here by
    another thread) must still be filled, a meta one is passed through."""
    filled = []
    with _initialisers_skipped():
        worker = threading.Thread(target=lambda: filled.append(torch.nn.init.normal_(torch.zeros(1000))))
        worker.start()
        worker.join()
        meta = torch.empty(8, device="meta")
        assert torch.nn.init.kaiming_uniform_(meta) is meta
    assert filled[0].std() > 0.5
