"""The labellers, who write the memories: ``rules`` (offline, with its image detector), ``openai``
(any OpenAI-compatible endpoint, with the Batch API and the run's cost) and ``truth`` (from the
scene truth). :mod:`.choose` makes one from plain settings."""
