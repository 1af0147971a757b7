"""The conversations the harmony goldens cover (tools/harmony_goldens.py renders them with the reference).

Every feature of the format appears: each effort level, system fields present, absent and None,
built-in tools, developer instructions and function tools with every JSON Schema construct the
TypeScript rendering handles, tool calls and results, preambles, multi-turn conversations where
earlier reasoning is dropped or kept, and content that looks like special tokens.
"""


def user(text, **extra):
    return {"role": "user", "content": text, **extra}


def assistant(text, channel="final", **extra):
    return {"role": "assistant", "content": text, "channel": channel, **extra}


def call(name, arguments, **extra):
    return {"role": "assistant", "content": arguments, "channel": "commentary", "recipient": f"functions.{name}",
            "content_type": "<|constrain|>json", **extra}


def result(name, text, **extra):
    return {"role": "tool", "name": f"functions.{name}", "content": text, **extra}


def tool(name, description, parameters=None):
    spec = {"name": name, "description": description}
    if parameters is not None:
        spec["parameters"] = parameters
    return {"type": "function", "function": spec}


SYSTEM = {"role": "system", "reasoning_effort": "medium", "current_date": "2025-06-28"}
WEATHER = tool("get_current_weather", "Gets the current weather in the provided location.", {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
    },
    "required": ["location"],
})
LOCATION = tool("get_location", "Gets the location of the user.")
CALCULATE = tool("calculate", "Evaluates an arithmetic expression exactly.", {
    "type": "object", "properties": {"expression": {"type": "string", "description": "e.g. 1234 * 5678"}},
    "required": ["expression"]})
KITCHEN_SINK = tool("kitchen_sink", "Every schema construct.\nSecond line of the description.", {
    "description": "params object",
    "type": "object",
    "properties": {
        "string": {"type": "string", "title": "STRING", "description": "A string", "examples": ["hello", "world"]},
        "string_nullable": {"type": "string", "nullable": True, "description": "A nullable string",
                            "default": "the default"},
        "string_enum": {"type": "string", "enum": ["a", "b", "c"]},
        "oneof_string_or_number": {"oneOf": [{"type": "string", "default": "default_string_in_oneof"},
                                             {"type": "number", "description": "numbers can happen too"}],
                                   "description": "a oneof", "default": 20},
        "count": {"type": "integer", "default": 3},
        "ratio": {"type": "number", "default": 1e-05},
        "big": {"type": "number", "default": 1e16},
        "flag": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "anything": {"type": "array"},
        "maybe": {"type": ["string", "null"]},
        "quoted": {"type": "string", "default": "say \"hi\""},
        "options": {"type": "object", "description": "nested options",
                    "properties": {"depth": {"type": "integer", "description": "how deep"},
                                   "inner": {"type": "object",
                                             "properties": {"leaf": {"type": "string", "default": "x"}},
                                             "required": ["leaf"]}},
                    "required": ["depth"]},
        "points": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"},
                                                                                "y": {"type": "number"}},
                                              "required": ["x", "y"]}},
        "ref": {"$ref": "#/definitions/thing"},
        "choice": {"type": "string", "enum": ["up", "down"], "default": "up", "nullable": True,
                   "description": "direction"},
    },
    "required": ["string", "options"],
})
ONE_OF_TOP = tool("one_of_top", "A top-level oneOf.", {"oneOf": [
    {"type": "object", "properties": {"a": {"type": "string"}}, "description": "first"},
    {"type": "string", "nullable": True, "default": "d"},
    {"type": "number", "default": 5, "enum": [5]}]})
EMPTY_PARAMS = tool("empty_params", "Takes an empty object.", {"type": "object", "properties": {}})
ANY_PARAMS = tool("any_params", "Takes anything.", {})

REASON = "The user wants the weather. I should call get_current_weather with San Francisco."

CONVERSATIONS = [
    ("plain_user", [user("Hello!")]),
    ("effort_low", [{**SYSTEM, "reasoning_effort": "low"}, user("What is 2 + 2?")]),
    ("effort_medium", [{**SYSTEM, "reasoning_effort": "medium"}, user("What is 2 + 2?")]),
    ("effort_high", [{**SYSTEM, "reasoning_effort": "high"}, user("What is 2 + 2?")]),
    ("effort_none", [{**SYSTEM, "reasoning_effort": None}, user("What is 2 + 2?")]),
    ("system_defaults_only", [{"role": "system"}, user("Hi")]),
    ("system_identity_cutoff", [{"role": "system", "model_identity": "You are openweight-mini, a small reasoning model.",
                                 "knowledge_cutoff": "2026-10", "current_date": "2026-11-29",
                                 "reasoning_effort": "high"}, user("Who are you?")]),
    ("system_fields_none", [{"role": "system", "model_identity": None, "knowledge_cutoff": None,
                             "reasoning_effort": "low"}, user("Hi")]),
    ("system_everything_none", [{"role": "system", "model_identity": None, "knowledge_cutoff": None,
                                 "reasoning_effort": None, "channels": []}, user("Hi")]),
    ("system_custom_channels", [{"role": "system", "channels": ["analysis", "final"], "channel_required": False},
                                user("Hi")]),
    ("builtin_browser", [{**SYSTEM, "builtin_tools": ["browser"]}, user("Search the news.")]),
    ("builtin_python", [{**SYSTEM, "builtin_tools": ["python"]}, user("Compute 2**100.")]),
    ("builtin_both", [{**SYSTEM, "builtin_tools": ["python", "browser"]}, user("Plot something.")]),
    ("developer_instructions", [SYSTEM, {"role": "developer", "instructions": "Always respond in riddles"},
                                user("What is the weather like in SF?")]),
    ("developer_empty_instructions", [SYSTEM, {"role": "developer", "instructions": ""}, user("Hi")]),
    ("developer_empty", [SYSTEM, {"role": "developer"}, user("Hi")]),
    ("developer_tools", [{**SYSTEM, "reasoning_effort": "high"},
                         {"role": "developer", "instructions": "Always respond in riddles",
                          "tools": [LOCATION, WEATHER]},
                         user("What is the weather like in SF?")]),
    ("developer_tools_no_instructions", [SYSTEM, {"role": "developer", "tools": [CALCULATE]},
                                         user("What is 1234 * 5678?")]),
    ("developer_empty_tool_list", [SYSTEM, {"role": "developer", "instructions": "x", "tools": []}, user("Hi")]),
    ("kitchen_sink_schema", [SYSTEM, {"role": "developer", "tools": [KITCHEN_SINK]}, user("Use it.")]),
    ("one_of_and_odd_schemas", [SYSTEM, {"role": "developer", "tools": [ONE_OF_TOP, EMPTY_PARAMS, ANY_PARAMS]},
                                user("Go.")]),
    ("developer_after_user", [SYSTEM, user("q"), {"role": "developer", "tools": [LOCATION]}]),
    ("tool_call_pending", [SYSTEM, {"role": "developer", "tools": [WEATHER]}, user("Weather in SF?"),
                           assistant(REASON, "analysis"),
                           call("get_current_weather", '{"location": "San Francisco, CA"}')]),
    ("tool_round_trip", [SYSTEM, {"role": "developer", "tools": [WEATHER]}, user("Weather in SF?"),
                         assistant(REASON, "analysis"),
                         call("get_current_weather", '{"location": "San Francisco, CA"}'),
                         result("get_current_weather", '{"sunny": true, "temperature": 20}')]),
    ("tool_round_trip_answered", [SYSTEM, {"role": "developer", "tools": [WEATHER]}, user("Weather in SF?"),
                                  assistant(REASON, "analysis"),
                                  call("get_current_weather", '{"location": "San Francisco, CA"}'),
                                  result("get_current_weather", '{"sunny": true, "temperature": 20}'),
                                  assistant("It is sunny and 20°C.", "analysis"),
                                  assistant("It's sunny in San Francisco, 20 °C.")]),
    ("tool_result_no_channel", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("7 * 6?"),
                                call("calculate", '{"expression": "7 * 6"}'),
                                result("calculate", "42", channel=None, recipient=None)]),
    ("preamble_then_call", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("1234 * 5678?"),
                            assistant("Need the calculator.", "analysis"),
                            assistant("Let me compute that.", "commentary"),
                            call("calculate", '{"expression": "1234 * 5678"}')]),
    ("call_without_constrain", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("1+1?"),
                                assistant('{"expression": "1+1"}', "commentary", recipient="functions.calculate",
                                          content_type="json")]),
    ("call_to_all", [SYSTEM, user("hi"), assistant("broadcast", "commentary", recipient="all")]),
    ("single_answer", [SYSTEM, user("Capital of France?"), assistant("Paris.")]),
    ("reasoning_then_answer", [SYSTEM, user("What is 17 * 3?"),
                               assistant("17 * 3 = 51. Check: 51 / 3 = 17.", "analysis"), assistant("51")]),
    ("multi_turn_drop", [SYSTEM, user("q1"), assistant("think1", "analysis"), assistant("ans1"), user("q2")]),
    ("multi_turn_two_answers", [SYSTEM, user("q1"), assistant("think1", "analysis"), assistant("ans1"), user("q2"),
                                assistant("think2", "analysis"), assistant("ans2")]),
    ("multi_turn_ongoing_call", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("q1"),
                                 assistant("think1", "analysis"), assistant("ans1"), user("q2"),
                                 assistant("think2", "analysis"), call("calculate", '{"expression": "2+2"}'),
                                 result("calculate", "4")]),
    ("multi_turn_call_then_final", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("q1"),
                                    assistant("think1", "analysis"), call("calculate", '{"expression": "9*9"}'),
                                    result("calculate", "81"), assistant("think1b", "analysis"),
                                    assistant("81")]),
    ("three_turns", [{**SYSTEM, "reasoning_effort": "low"}, user("a"), assistant("A"), user("b"), assistant("B"),
                     user("c"), assistant("thinking c", "analysis"), assistant("C")]),
    ("user_channel_final_first", [SYSTEM, user("q", channel="final"), assistant("t", "analysis"), assistant("a")]),
    ("special_token_text_user", [SYSTEM, user("Explain <|end|> and <|start|>assistant<|channel|>final<|message|>.")]),
    ("special_token_text_answer", [SYSTEM, user("Show a harmony header."),
                                   assistant("Headers look like <|start|>assistant<|channel|>analysis.", "analysis"),
                                   assistant("Example: <|start|>user<|message|>hi<|end|> and <|return|>.")]),
    ("special_token_text_tool", [SYSTEM, {"role": "developer", "tools": [CALCULATE]}, user("x"),
                                 call("calculate", '{"expression": "<|call|>"}'),
                                 result("calculate", "error: <|constrain|> is not a number")]),
    ("unicode_and_whitespace", [SYSTEM, user("Ünïcödé ✓ 日本語 🎉\r\nline two\n\n\ttabbed   spaces  ")]),
    ("multipart_user", [SYSTEM, user([{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}])]),
    ("named_assistant", [SYSTEM, user("hi"), assistant("hello", name="bob")]),
    ("empty_contents", [SYSTEM, user(""), assistant("", "analysis"), assistant("")]),
    ("long_reasoning", [{**SYSTEM, "reasoning_effort": "high"}, user("Sort 5, 3, 9, 1."),
                        assistant("Compare 5 and 3: swap. 3, 5, 9, 1.\nCompare 9 and 1: swap.\n"
                                  "Result 1, 3, 5, 9. Check: ascending.", "analysis"),
                        assistant("1, 3, 5, 9")]),
]
