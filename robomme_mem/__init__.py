"""RoboMME-Mem: memory-augmented high-level policy data built from RoboMME demonstrations.

Data flows one way: ``source -> segment -> assemble -> write`` (labels and publishing
come later in the chain). Import the pieces you need::

    from robomme_mem.source import open_source
    from robomme_mem.segment import plan_episode
"""

__version__ = "0.1.0"
