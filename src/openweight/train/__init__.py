"""Training: one trainer for pretraining and supervised fine-tuning (RL builds on it)."""
