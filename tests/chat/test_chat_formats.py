"""lm.chat on every format: harmony decoding into reasoning, answer and tool calls; a trained tokenizer."""

import pytest

import openweight
from openweight.chat.formats import ChatFormat, HarmonyDecoder, with_settings
from openweight.chat.harmony import SPECIAL_TOKENS, render_ids
from openweight.chat.harmony import chat_template as harmony_chat_template
from openweight.tokenizer import Tokenizer

CORPUS = ["The weather in Paris is sunny today.", "What is 1234 * 5678? It is 7006652.",
          "Let me think step by step about the problem.", '{"expression": "2 + 2"}'] * 50


@pytest.fixture(scope="module")
def harmony_tokenizer():
    return Tokenizer.train(CORPUS, vocab_size=400, special_tokens=list(SPECIAL_TOKENS), eos_token="<|return|>",
                           chat_template=harmony_chat_template())


def test_trained_tokenizer_has_each_harmony_token_once_and_loads_in_transformers(harmony_tokenizer, tmp_path):
    import transformers

    ids = [harmony_tokenizer.token_id(t) for t in SPECIAL_TOKENS]
    assert len(set(ids)) == len(SPECIAL_TOKENS) and None not in ids
    text = "<|start|>assistant<|channel|>final<|message|>It is 7006652.<|return|>"
    encoded = harmony_tokenizer.encode(text)
    assert encoded[:1] == [harmony_tokenizer.token_id("<|start|>")] and encoded[-1] == ids[5]
    assert harmony_tokenizer.decode(encoded) == text
    harmony_tokenizer.save(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert hf(text, add_special_tokens=False).input_ids == encoded
    assert Tokenizer.from_folder(tmp_path).encode(text) == encoded


def test_harmony_decoder_splits_reasoning_answer_and_tool_calls(harmony_tokenizer):
    reply = [{"role": "assistant", "channel": "analysis", "content": "Need the calculator."},
             {"role": "assistant", "channel": "commentary", "recipient": "functions.calculate",
              "content_type": "<|constrain|>json", "content": '{"expression": "1234 * 5678"}'}]
    ids, _ = render_ids(reply, harmony_tokenizer, for_training=True)
    decoder = HarmonyDecoder(harmony_tokenizer)
    deltas = [decoder.feed(t) for t in ids[2:-1]]  # the model writes after '<|start|>assistant', stops at <|call|>
    last, result = decoder.finish("stop")
    assert result.reasoning == "Need the calculator." and result.content == ""
    assert result.tool_calls == [{"id": "call_0", "type": "function", "function": {
        "name": "calculate", "arguments": '{"expression": "1234 * 5678"}'}}]
    assert result.finish_reason == "tool_calls"
    assert "".join(d.reasoning for d in deltas + [last]) == result.reasoning
    streamed_args = "".join(d.tool_call.arguments for d in deltas + [last] if d.tool_call)
    assert streamed_args == '{"expression": "1234 * 5678"}'


def test_effort_and_tools_are_placed_where_harmony_wants_them():
    tools = [{"type": "function", "function": {"name": "f", "description": "d"}}]
    out = with_settings([{"role": "user", "content": "hi"}], "high", tools)
    assert out == [{"role": "system", "reasoning_effort": "high"}, {"role": "developer", "tools": tools},
                   {"role": "user", "content": "hi"}]


def test_chat_on_a_random_harmony_model_runs_end_to_end(make_hf_model, harmony_tokenizer, tmp_path):
    """Random weights write garbage; chat must still return a reply, never raise."""
    hf = make_hf_model("gpt_oss", vocab_size=harmony_tokenizer.vocab_size)
    hf.save_pretrained(tmp_path)
    harmony_tokenizer.save(tmp_path)
    lm = openweight.load(tmp_path)
    assert lm.chat_format.name == "harmony"
    for seed in range(3):
        reply = lm.chat("What is 2 + 2?", max_new_tokens=24, reasoning_effort="low", temperature=1.0, seed=seed)
        assert reply.finish_reason in ("stop", "length", "tool_calls")
        assert isinstance(reply.content, str) and isinstance(reply.reasoning, str)
    prompt = lm.chat_prompt([{"role": "user", "content": "hi"}], reasoning_effort="low")
    assert "Reasoning: low" in harmony_tokenizer.decode(prompt)


def test_exported_harmony_model_prompts_the_same_through_transformers(make_hf_model, harmony_tokenizer, tmp_path):
    import transformers

    make_hf_model("gpt_oss", vocab_size=harmony_tokenizer.vocab_size).save_pretrained(tmp_path / "in")
    harmony_tokenizer.save(tmp_path / "in")
    lm = openweight.load(tmp_path / "in")
    lm.save(tmp_path / "out")
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    tools = [{"type": "function", "function": {"name": "calculate", "description": "Arithmetic.",
                                               "parameters": {"type": "object", "properties": {
                                                   "expression": {"type": "string"}}, "required": ["expression"]}}}]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
    for effort in ("low", "high"):
        expected = lm.chat_prompt(messages, reasoning_effort=effort, tools=tools)
        got = hf.apply_chat_template(messages, tools=tools, reasoning_effort=effort, add_generation_prompt=True,
                                     tokenize=True, return_dict=False)
        assert got == expected


def test_think_models_split_reasoning_from_the_answer():
    from tokenizers import Tokenizer as Backend
    from tokenizers import models, pre_tokenizers

    backend = Backend(models.WordLevel({w: i for i, w in enumerate(
        ["[UNK]", "<think>", "</think>", "hmm", "yes", "<|im_end|>"])}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    template = "{% for m in messages %}{{ m.content }} {% endfor %}<think> "
    tok = Tokenizer(backend, chat_template=template, eos_token="<|im_end|>")
    fmt = ChatFormat(tok)
    assert fmt.name == "think"
    prompt = fmt.prompt([{"role": "user", "content": "hmm"}])
    decoder = fmt.decoder(prompt)
    for token in [3, 3, 2, 4]:  # the prompt opened <think>: "hmm hmm </think> yes"
        decoder.feed(token)
    _, reply = decoder.finish("stop")
    assert reply.reasoning.split() == ["hmm", "hmm"] and reply.content == "yes"
