"""RoboMME-Mem: memory-augmented high-level policy data built from RoboMME demonstrations.

Data flows one way: ``source -> segment -> planning -> labels -> assemble -> write -> publish``.
Import the pieces you need::

    from robomme_mem.dataset.build import BuildOptions, build
    from robomme_mem.dataset.plan import plan_source          # one plan per episode, no pixels
    from robomme_mem.dataset.labels.labelling import label_source      # label a source into a named label set
"""

__version__ = "0.1.0"
