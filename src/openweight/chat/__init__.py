"""Conversations <-> tokens: chat templates (harmony and <think> parsing come with their own modules)."""
