"""Scene truth: what is really where in a RoboMME episode, from RoboMME's simulator.

``witness`` notes the scene after each recorded action; ``replay`` steps a recorded episode's
actions again (``robomme-mem truth``), ``capture`` rides RoboMME's recorder while it records
(``robomme-mem record --truth``), and ``agree`` says whether two truths of one episode agree.
``geometry``, ``fidelity``, ``story``, ``events`` and ``actions`` are plain NumPy and Python
(they run anywhere); ``files`` reads and writes the truth file.
"""
