"""Harmony, the conversation format of gpt-oss, for any tokenizer that has its special tokens."""

from .messages import HarmonyMessage, to_harmony
from .render import SPECIAL_TOKENS, conversation_segments, segments_ids, segments_text


def render(messages: list[dict], *, for_training: bool = False, drop_analysis: bool | None = None) -> str:
    """The conversation as harmony text, ending in '<|start|>assistant' unless for_training."""
    return segments_text(conversation_segments(messages, for_training=for_training, drop_analysis=drop_analysis))


def render_ids(messages: list[dict], tokenizer, *, for_training: bool = False,
               drop_analysis: bool | None = None) -> tuple[list[int], list[bool]]:
    """Token ids of the rendered conversation and, per token, whether training learns it."""
    segments = conversation_segments(messages, for_training=for_training, drop_analysis=drop_analysis)
    return segments_ids(segments, tokenizer)


__all__ = ["HarmonyMessage", "SPECIAL_TOKENS", "render", "render_ids", "to_harmony"]
