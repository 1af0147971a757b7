"""Harmony, the conversation format of gpt-oss, for any tokenizer that has its special tokens."""

from importlib.resources import files

from .messages import HarmonyMessage, to_harmony
from .parse import Delta, ParsedMessage, StreamParser, TokenParser, parse_ids, parse_text
from .render import SPECIAL_TOKENS, conversation_segments, segments_ids, segments_text


def render(messages: list[dict], *, for_training: bool = False, drop_analysis: bool | None = None) -> str:
    """The conversation as harmony text, ending in '<|start|>assistant' unless for_training."""
    return segments_text(conversation_segments(messages, for_training=for_training, drop_analysis=drop_analysis))


def render_ids(messages: list[dict], tokenizer, *, for_training: bool = False,
               drop_analysis: bool | None = None) -> tuple[list[int], list[bool]]:
    """Token ids of the rendered conversation and, per token, whether training learns it."""
    segments = conversation_segments(messages, for_training=for_training, drop_analysis=drop_analysis)
    return segments_ids(segments, tokenizer)


def chat_template() -> str:
    """A Jinja chat template that renders what `render` renders, for transformers' apply_chat_template."""
    return files(__package__).joinpath("chat_template.jinja").read_text()


def parse(text: str, role: str | None = None) -> list[dict]:
    """Messages of harmony text; role='assistant' for a reply that follows '<|start|>assistant'."""
    return [m.to_dict() for m in parse_text(text, role)]


__all__ = ["chat_template", "Delta", "HarmonyMessage", "ParsedMessage", "SPECIAL_TOKENS", "StreamParser", "TokenParser",
           "parse", "parse_ids", "parse_text", "render", "render_ids", "to_harmony"]
