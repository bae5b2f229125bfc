"""Rows per config, from an episode's plan, texts and labels (pure functions)."""
