"""Jinja chat templates render exactly as transformers' apply_chat_template renders them."""

import pytest
from tokenizers import Tokenizer as Backend
from tokenizers import models

from openweight.chat.template import render_chat
from openweight.errors import GenerationError

# A template written for this test: ChatML with a default system turn, tools as JSON, tool calls and
# results, whitespace control, loop variables, namespace(), filters and raise_exception.
TOOL_TEMPLATE = """{%- set ns = namespace(system_seen=false) -%}
{%- for message in messages -%}
  {%- if message.role == 'system' -%}{%- set ns.system_seen = true -%}{%- endif -%}
{%- endfor -%}
{{- bos_token -}}
{%- if not ns.system_seen %}
<|im_start|>system
You are helpful.{% if tools %} Tools:
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}{% endif %}<|im_end|>
{% endif -%}
{%- for message in messages %}
  {%- if message.role not in ['system', 'user', 'assistant', 'tool'] -%}
    {{- raise_exception('unknown role ' + message.role) -}}
  {%- endif %}
<|im_start|>{{ message.role }}
{% if message.tool_calls is defined and message.tool_calls -%}
{%- for call in message.tool_calls -%}
<tool_call>{{ {'name': call.function.name, 'arguments': call.function.arguments} | tojson }}</tool_call>{% if not loop.last %}
{% endif %}
{%- endfor -%}
{%- else -%}
{{ message.content | trim }}
{%- endif %}<|im_end|>
{%- endfor %}
{% if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}"""

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "  2+2?  "},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "Thanks, 日本語 ✓"}],
    [{"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
         {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Nice"}}}]},
     {"role": "tool", "content": "{\"temp\": 21}"}],
]


@pytest.fixture(scope="module")
def hf_tokenizer():
    from transformers import PreTrainedTokenizerFast

    backend = Backend(models.WordLevel({"<s>": 0, "</s>": 1, "[UNK]": 2}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("with_tools", [False, True])
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_matches_transformers(hf_tokenizer, messages, with_tools, add_generation_prompt):
    tools = TOOLS if with_tools else None
    expected = hf_tokenizer.apply_chat_template(messages, chat_template=TOOL_TEMPLATE, tools=tools,
                                                tokenize=False, add_generation_prompt=add_generation_prompt)
    got = render_chat(TOOL_TEMPLATE, messages, add_generation_prompt=add_generation_prompt,
                      bos_token="<s>", eos_token="</s>", tools=tools)
    assert got == expected


def test_template_errors_name_the_template():
    with pytest.raises(GenerationError, match="chat template failed: unknown role robot"):
        render_chat(TOOL_TEMPLATE, [{"role": "robot", "content": "beep"}])
    with pytest.raises(GenerationError, match="no chat template"):
        render_chat(None, [{"role": "user", "content": "hi"}])
