"""Running a model: KV cache, sampling and generation."""
