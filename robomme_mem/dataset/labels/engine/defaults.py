"""The labelling defaults that the command line shows: importable without the labellers' dependencies."""

RULES = "rules"
"""The offline labeller, and the label set a build computes as it goes (``--labels rules``: no store)."""
OPENAI = "openai"
TRUTH = "truth"
LABELLERS = (RULES, OPENAI, TRUTH)
"""``rules``: offline, no API key; ``openai``: any OpenAI-compatible endpoint; ``truth``: from a scene truth file (``robomme-mem truth``)."""
KINDS = ("action", "spatial")
DEFAULT_SPATIAL_MAX_TOKENS = 600
"""The paper's completion budget for spatial memories (spec/prompts.md)."""
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
