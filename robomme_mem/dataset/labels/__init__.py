"""Memory labels, by role: :mod:`.store` (the label store: answers, named sets, their files),
:mod:`.engine` (requests, checks, the session, an episode's memories), :mod:`.labellers` (``rules``,
``openai``, ``truth``), and the two ways in: :mod:`.labelling` labels a source into a named set
(:mod:`.rounds`: one round of ``robomme-mem label``), :mod:`.build_labels` hands a build its labels."""
