"""Reading safetensors files memory-mapped or into memory of their own gives the same tensors."""

import pytest
import torch
from safetensors.torch import save_file

from openweight.errors import CheckpointError
from openweight.weights.safetensors_dir import read_tensors

TENSORS = {
    "bf16": torch.randn(3, 5).to(torch.bfloat16), "f32": torch.randn(7), "f16": torch.randn(2, 2).half(),
    "i64": torch.arange(6).view(2, 3), "u8": torch.randint(0, 255, (4, 4), dtype=torch.uint8),
    "flag": torch.tensor([True, False, True]), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
    "u16": torch.arange(5, dtype=torch.int32).to(torch.uint16), "e4m3": torch.randn(4).to(torch.float8_e4m3fn),
    "e8m0": torch.rand(4).to(torch.float8_e8m0fnu),  # MXFP4 scales
}


def test_unmapped_reads_give_the_mapped_tensors(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(TENSORS, path, metadata={"format": "pt"})
    mapped, unmapped = read_tensors([path]), read_tensors([path], mapped=False)
    for name, expected in TENSORS.items():
        got = unmapped[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape
        for tensor in (got, mapped[name]):  # byte for byte (float8 has no ==)
            assert torch.equal(tensor.reshape(-1).view(torch.uint8), expected.reshape(-1).view(torch.uint8))


def test_a_file_cut_short_names_the_tensor(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.zeros(4), "b": torch.ones(1000)}, path)
    unmapped = read_tensors([path], mapped=False)  # the header is read whole here
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"model.safetensors: tensor 'b' is unreadable \(cut short"):
        unmapped["b"]
