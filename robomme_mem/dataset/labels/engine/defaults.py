"""The labelling defaults that the command line shows: importable without the labellers' dependencies."""

LABELLERS = ("rules", "openai", "truth")
"""``rules``: offline, no API key; ``openai``: any OpenAI-compatible endpoint; ``truth``: from a scene truth file (``robomme-mem truth``)."""
KINDS = ("action", "spatial")
DEFAULT_SPATIAL_MAX_TOKENS = 600
"""The paper's completion budget for spatial memories (spec/prompts.md)."""
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
