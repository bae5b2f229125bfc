"""The dataset wing: RoboMME demonstrations -> published RoboMME-Mem folders.

source -> segment -> plan -> truth -> labels -> audit -> assemble -> write -> publish; ``build`` drives one pass per
episode, ``audit`` scores label sets, ``sample`` is the embedded default source.
"""
