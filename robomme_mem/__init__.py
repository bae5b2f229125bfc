"""RoboMME-Mem: memory-augmented high-level policy data built from RoboMME demonstrations.

Two wings over a shared root (``prompts``, ``subgoals``: the subgoal grammar, constants): ``robomme_mem.dataset``
builds and publishes the data, ``source -> segment -> plan -> truth -> labels -> audit -> assemble ->
write -> build -> publish``; ``robomme_mem.closed_loop`` runs a high level in a simulator.
Import the pieces you need::

    from robomme_mem.dataset.build import BuildOptions, build
    from robomme_mem.dataset.plan import plan_source                 # one plan per episode, no pixels
    from robomme_mem.dataset.labels.labelling import label_source    # label a source into a named label set
"""

__version__ = "0.1.0"
