"""The closed-loop wing: a trained high level (or a built-in one) driving a simulator episode by episode.

It reads from the rest of the package only the prompts, the subgoal grammar and published data.
"""
