"""The OpenAI request bodies the server accepts, validated once, and its error shape.

Unknown fields are refused (400 naming the field) rather than silently ignored; fields that are
accepted but have no effect here are listed where they are declared.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class APIError(Exception):
    """An error returned to the client in OpenAI's shape: {"error": {message, type, param, code}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def validate(schema: type[BaseModel], data: Any):
    """data as `schema`, or a 400 APIError naming the first parameter at fault."""
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        param = ".".join(str(p) for p in _field_path(first["loc"])) or None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown parameter"
        elif first["type"] == "missing":
            message = "missing required parameter"
        raise APIError(400, f"{param}: {message}" if param else message, param) from None


_UNION_TAG = re.compile(r"^(str|int|float|bool|dict|list|none|[A-Z]\w*)$|[\[(]")


def _field_path(loc: tuple) -> list:
    """The fields of an error location, without the union-member tags pydantic adds ('str', 'list[...]')."""
    path = []
    for part in loc:
        if isinstance(part, str) and _UNION_TAG.search(part):
            break
        path.append(part)
    return path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionDef(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(Strict):
    name: str


class ToolChoiceFunction(Strict):
    type: Literal["function"]
    function: NamedFunction


class JSONSchemaFormat(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _is_a_schema(cls, schema: dict) -> dict:
        check_schema(schema)
        return schema


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a 'json_schema' object")
        return self


class StreamOptions(Strict):
    include_usage: bool = False


class Message(BaseModel):
    """A chat message; content is a string or a list of text parts."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None

    @field_validator("content")
    @classmethod
    def _text_parts(cls, content):
        if isinstance(content, list):
            for part in content:
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise ValueError("content parts must be {'type': 'text', 'text': ...}; "
                                     "this server takes text only")
        return content


class Sampling(Strict):
    """Sampling fields shared by chat and text completions (top_k, min_p and repetition_penalty as vLLM)."""

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    min_p: float = Field(0.0, ge=0, le=1)
    repetition_penalty: float = Field(1.0, gt=0, le=10)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None  # accepted, unused
    # Accepted for compatibility; only 0 (their default) is honoured.
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)

    @field_validator("stop", mode="before")
    @classmethod
    def _stops(cls, stop):
        stops = [stop] if isinstance(stop, str) else [] if stop is None else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise ValueError("stop takes a string or a list of strings")
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop takes up to 4 non-empty strings")
        return stops

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _unsupported(cls, value):
        if value != 0:
            raise ValueError("not supported by this server (use repetition_penalty)")
        return value


class ChatCompletionRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None  # accepted; the model decides
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    metadata: dict[str, str] | None = None  # accepted, unused
    store: bool | None = None  # accepted, unused

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        if self.logprobs:
            raise APIError(400, "logprobs are not supported by this server", "logprobs")
        if isinstance(self.tool_choice, ToolChoiceFunction):
            names = [t.function.name for t in self.tools or []]
            if self.tool_choice.function.name not in names:
                raise APIError(400, f"tool_choice names function {self.tool_choice.function.name!r}, which is not "
                                    f"among the tools ({', '.join(names) or 'none given'})", "tool_choice")
        if self.tool_choice == "required" and not self.tools:
            raise APIError(400, "tool_choice 'required' needs tools", "tool_choice")
        return self

    @property
    def token_budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(Sampling):
    prompt: str | list[int] = Field(min_length=1)
    echo: bool = False


def check_schema(schema: Any, where: str = "schema") -> None:
    """Reject what cannot be a JSON Schema: a non-object, an unknown 'type', properties that are not schemas."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a JSON object")
    kinds = schema.get("type")
    known = {"object", "array", "string", "number", "integer", "boolean", "null"}
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if kind not in known:
            raise ValueError(f"{where}.type {kind!r} is not a JSON Schema type")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError(f"{where}.properties must be an object")
    for name, sub in properties.items():
        check_schema(sub, f"{where}.properties.{name}")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{where}.required must be a list of property names")


class ResponseTool(FunctionDef):
    """A Responses API function tool: the function's fields sit on the tool itself."""

    type: Literal["function"]


class ResponseToolChoice(Strict):
    type: Literal["function"]
    name: str


class Reasoning(Strict):
    effort: Literal["low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None  # accepted; the full reasoning is returned


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> TextFormat:
        if self.type == "json_schema":
            if self.schema_ is None or not self.name:
                raise ValueError("format 'json_schema' needs 'name' and 'schema'")
            check_schema(self.schema_)
        return self


class TextOptions(Strict):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None  # accepted, unused


class ResponsesRequest(Strict):
    model: str
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    previous_response_id: str | None = None
    reasoning: Reasoning | None = None
    tools: list[ResponseTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ResponseToolChoice | None = None
    parallel_tool_calls: bool | None = None  # accepted; the model decides
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None  # an openweight extension, as in chat completions
    stream: bool = False
    store: bool = True
    text: TextOptions | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None  # accepted, unused
    truncation: Literal["auto", "disabled"] | None = None  # accepted; a prompt too long is refused
    include: list[str] | None = None  # accepted; reasoning text is always included
