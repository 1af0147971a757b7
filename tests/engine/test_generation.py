"""Generation on a real pretrained model: seeds, stops, streaming, batching."""

import pytest

import openweight
from openweight.engine.generate import TextStream


@pytest.fixture(scope="module")
def lm():
    return openweight.load("smollm2-135m")


def test_same_seed_same_text_other_seed_other_text(lm):
    kwargs = dict(max_new_tokens=24, temperature=1.0, top_p=0.95, stop_token_ids=[])
    a = lm.generate("Once upon a time", seed=3, **kwargs)
    assert a == lm.generate("Once upon a time", seed=3, **kwargs)
    assert a != lm.generate("Once upon a time", seed=4, **kwargs)


def test_streaming_pieces_join_to_the_full_text(lm):
    kwargs = dict(max_new_tokens=40, temperature=0.8, seed=11)
    prompt = lm.chat_prompt([{"role": "user", "content": "Name three colours."}])
    pieces = list(lm.generate(prompt, stream=True, **kwargs))
    assert len(pieces) > 3
    assert "".join(pieces) == lm.generate(prompt, **kwargs)


def test_chat_stops_at_end_of_turn_token(lm):
    reply = lm.chat("What is the capital of France?", max_new_tokens=64)
    assert "Paris" in reply.content and "<|im_end|>" not in reply.content
    assert reply.finish_reason == "stop" and reply.reasoning == "" and reply.tool_calls == []


def test_chat_stream_deltas_join_to_the_reply(lm):
    chat = lm.chat("Name a colour.", max_new_tokens=24, temperature=0.7, seed=5, stream=True)
    text = "".join(d.content for d in chat)
    assert text == chat.reply.content == lm.chat("Name a colour.", max_new_tokens=24, temperature=0.7,
                                                 seed=5).content
    cut = lm.chat("Tell me a long story.", max_new_tokens=5)
    assert cut.finish_reason == "length"


def test_stop_string_cuts_the_text_in_streaming_and_not(lm):
    prompt = "1, 2, 3, 4, 5, 6, 7, 8,"
    full = lm.generate(prompt, max_new_tokens=20, stop_token_ids=[])
    assert " 10," in full
    cut = lm.generate(prompt, max_new_tokens=20, stop=" 10,", stop_token_ids=[])
    assert cut == full[: full.index(" 10,")]
    assert "".join(lm.generate(prompt, max_new_tokens=20, stop=" 10,", stop_token_ids=[], stream=True)) == cut


def test_batched_prompts_of_different_lengths_match_single_runs(lm):
    prompts = ["The sun", "In the beginning of the twentieth century, the city of", "def add(a, b):"]
    together = lm.generate(prompts, max_new_tokens=16, stop_token_ids=[])
    assert together == [lm.generate(p, max_new_tokens=16, stop_token_ids=[]) for p in prompts]


def test_repetition_penalty_reduces_repeats(lm):
    prompt = "The cat sat on the mat. The cat sat on the mat."
    plain = lm.generate(prompt, max_new_tokens=16, stop_token_ids=[])
    penalized = lm.generate(prompt, max_new_tokens=16, stop_token_ids=[], repetition_penalty=1.5)
    assert plain.count("cat sat") >= 1 and penalized.count("cat sat") == 0


class CharTokenizer:
    """Bytes as tokens, to drive TextStream with split UTF-8 characters."""

    def decode(self, ids, skip_special_tokens=False):
        return bytes(ids).decode("utf-8", errors="replace")


def test_text_stream_holds_back_split_characters_and_stop_prefixes():
    stream = TextStream(CharTokenizer(), stop_strings=["END"])
    out = [stream.push(b) for b in "é E".encode() + b"N"]
    assert out == ["", "é", " ", "", ""]  # é arrives in two bytes; "EN" may begin "END"
    assert stream.push(ord("x")) == "ENx"
    for b in b"..END":
        stream.push(b)
    assert stream.done and stream.text == "é ENx.."


def test_generate_all_goes_on_after_resume_and_frees_its_cache_at_once():
    """A resumed reply goes on within the one budget; the engine (and its cache, gigabytes for a large
    batch) is gone when generate_all returns, without waiting for the garbage collector."""
    import gc

    from openweight.engine.continuous import Engine, generate_all

    mini = openweight.load()
    prompts = [mini.tokenizer.encode(text) for text in ("What is 12 + 30?", "Sort 5, 3, 9.")]
    added = {}

    def resume(i, reply):
        if i in added:
            return None
        added[i] = [mini.tokenizer.encode(" 42")[0]]
        return added[i]

    gc.collect()
    gc.disable()
    try:
        every_token_stops = set(range(mini.config.vocab_size))
        replies = generate_all(mini.model, prompts, 12, every_token_stops, max_batch=2, resume=resume)
        assert not [o for o in gc.get_objects() if type(o) is Engine]
    finally:
        gc.enable()
    for i, reply in enumerate(replies):  # a token, the one resume added, then one more
        assert len(reply) == 3 and reply[1] == added[i][0]


def test_generate_all_ends_a_reply_whose_resume_used_up_its_budget():
    from openweight.engine.continuous import generate_all

    mini = openweight.load()
    tool_result = mini.tokenizer.encode(" 42 and more")
    replies = generate_all(mini.model, [mini.tokenizer.encode("What is 12 + 30?")], len(tool_result),
                           set(range(mini.config.vocab_size)), resume=lambda i, reply: tool_result)
    assert replies[0][1:] == tool_result  # the first token, the result, and nothing generated after


def test_prompts_of_one_length_prefill_together_and_copies_once_with_the_same_replies():
    """Requests in line with prompts of one length are prefilled in one forward, and copies of a
    prompt (a GRPO group) once; the replies, greedy or seeded, are those of each prompt alone."""
    from openweight.engine.continuous import generate_all
    from openweight.engine.sampling import SamplingParams

    mini = openweight.load()
    prompts = [mini.tokenizer.encode(f"What is {a} + {b}?") for a, b in ((12, 30), (45, 17), (88, 11))] * 3
    prompts.append(mini.tokenizer.encode("Sort in ascending order: 5, 3, 9"))
    assert len({len(p) for p in prompts[:-1]}) == 1 and len(prompts[-1]) != len(prompts[0])
    prefills = []
    hook = mini.model.register_forward_hook(lambda module, args, out: prefills.append(tuple(args[0].shape))
                                            if args[0].shape[1] > 1 else None)
    try:
        together = generate_all(mini.model, prompts, 8, set(), max_batch=16)
    finally:
        hook.remove()
    assert prefills == [(3, len(prompts[0])), (1, len(prompts[-1]))]
    assert together == [generate_all(mini.model, [p], 8, set())[0] for p in prompts]
    hot = SamplingParams(temperature=1.5)
    group = generate_all(mini.model, prompts[:1] * 4, 8, set(), hot, seeds=[0, 1, 2, 3], max_batch=4)
    assert len(set(map(tuple, group))) > 1  # the copies draw with their own seeds
    assert group == [generate_all(mini.model, prompts[:1], 8, set(), hot, seeds=[s])[0] for s in range(4)]


def test_a_loading_group_survives_a_cancel_a_release_and_a_finish_on_its_first_token():
    """Three equal 3-chunk prompts load together while another request decodes and ends (the group's
    last row moves up); one of the three is cancelled after its first chunk, one stops on its first token. Each request finishes
    once, the others' replies are what they are alone, and no row is left holding a length."""
    from openweight.engine.continuous import Engine, Request, generate_all

    mini = openweight.load()
    encode = mini.tokenizer.encode
    group = [encode(text) for text in ("What is 123 + 456?", "What is 789 + 120?", "What is 345 + 670?")]
    assert len({len(p) for p in group}) == 1 and len(group[0]) > 8
    first_token = generate_all(mini.model, [group[2]], 1, set())[0][0]
    finishes: dict[int, list] = {i: [] for i in range(4)}
    tokens: dict[int, list] = {i: [] for i in range(4)}

    def emit_to(i):
        def emit(token, reason):
            if token is not None:
                tokens[i].append(token)
            if reason is not None:
                finishes[i].append(reason)
        return emit

    engine = Engine(mini.model, max_batch=8, prefill_chunk=4, admit_tokens=64)
    decoding = Request(encode("Hi"), 3, emit_to(3))
    engine.submit(decoding)
    engine.step()  # "Hi" prefilled, its first token drawn, and a second decoded
    requests = [Request(group[0], 6, emit_to(0)), Request(group[1], 6, emit_to(1)),
                Request(group[2], 6, emit_to(2), stop_ids=frozenset({first_token}))]
    for request in requests:
        engine.submit(request)
    engine.step()  # the three load their first chunk together; "Hi" decodes its last token and leaves
    assert {id(r) for r in engine.loading} == {id(r) for r in requests} and finishes[3] == ["length"]
    engine.cancel(requests[0])  # its row, in the middle of the group, goes to the one after it
    while engine.rows or engine.loading or engine.waiting:
        engine.step()
    assert finishes == {0: ["cancelled"], 1: ["length"], 2: ["stop"], 3: ["length"]}
    assert tokens[1] == generate_all(mini.model, [group[1]], 6, set())[0] and tokens[2] == [first_token]
    assert tokens[3] == generate_all(mini.model, [encode("Hi")], 3, set())[0]
    assert not engine.cache.lengths.any()


def test_the_engine_refuses_an_empty_prompt_and_requests_once_stopped():
    from openweight.engine.continuous import Engine, Request

    engine = Engine(openweight.load().model, max_batch=2).start()
    with pytest.raises(ValueError, match="at least one token"):
        engine.submit(Request([], 4, lambda token, reason: None))
    engine.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        engine.submit(Request([1, 2], 4, lambda token, reason: None))
