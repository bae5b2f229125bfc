"""Scene truth: what is really where in a RoboMME episode, from replaying it in RoboMME's simulator.

``geometry`` and ``fidelity`` are plain NumPy (they run anywhere); ``replay`` needs RoboMME's
benchmark and ManiSkill (``robomme-mem truth`` runs where they are installed); ``files`` reads
and writes the truth file.
"""
