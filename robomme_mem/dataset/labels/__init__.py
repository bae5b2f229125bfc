"""Memory labels: what each boundary's action memory and each call's spatial memory summarise,
how answers are checked, and the labellers that write them (``rules`` offline; ``openai`` next)."""
