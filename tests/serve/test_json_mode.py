"""JSON mode holds for any model: whatever a random one samples, the answer stays a JSON object prefix
and ends only when the object is whole."""

import json
import random
import threading

import torch

from openweight import harmony
from openweight.chat.harmony import SPECIAL_TOKENS
from openweight.config import ModelConfig
from openweight.engine.continuous import Engine, Request
from openweight.engine.sampling import SamplingParams
from openweight.model import Transformer
from openweight.serve.json_mode import JSONAnswer
from openweight.tasks import FAMILIES
from openweight.tasks.traces import conversation
from openweight.tokenizer import Tokenizer


def test_sampled_answers_stay_json():
    rng = random.Random(0)
    texts = [harmony.render(conversation(FAMILIES[n].sample(rng), "high", rng), for_training=True)
             for n in FAMILIES for _ in range(10)] + ['{"answer": [1, -2.5e3, true, null], "x": "\\u00e9"}'] * 5
    tokenizer = Tokenizer.train(texts, 400, list(SPECIAL_TOKENS), eos_token="<|return|>")
    config = ModelConfig.from_dict(dict(model_type="llama", vocab_size=tokenizer.vocab_size, hidden_size=32,
                                        intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        max_position_embeddings=256))
    torch.manual_seed(0)
    model = Transformer(config).eval()
    end = tokenizer.token_id("<|return|>")
    # The end and the tokens that close a string or an object are tempting (a logit bias), so that
    # some samples finish within the budget whatever the tokenizer learnt; only a whole object may end.
    closing = [i for i in range(tokenizer.vocab_size) if any(c in tokenizer.decode([i]) for c in '"}')]
    head = torch.nn.Linear(config.hidden_size, config.vocab_size)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[[end, *closing]] = 2.0
    model.lm_head = head
    engine = Engine(model, max_batch=8).start()
    results, done = {}, threading.Semaphore(0)
    constraints = {}
    for seed in range(16):
        tokens: list[int] = []
        constraints[seed] = JSONAnswer(tokenizer, harmony=False, end_ids={end})

        def emit(token, reason, tokens=tokens, seed=seed):
            if token is not None:
                tokens.append(token)
            if reason is not None:
                results[seed] = (tokens, reason)
                done.release()

        engine.submit(Request([1, 2, 3], 120, emit, SamplingParams(temperature=1.0), frozenset({end}), seed,
                              constraints[seed]))
    for _ in range(16):
        assert done.acquire(timeout=120)
    engine.stop()
    finished = 0
    for seed, (tokens, reason) in results.items():
        text = tokenizer.decode([t for t in tokens if t != end])
        assert text.lstrip()[:1] in ("{", ""), text
        if reason == "stop":
            assert isinstance(json.loads(text), dict), text
            finished += 1
    assert finished > 0, "no sampled answer ever closed its object"
