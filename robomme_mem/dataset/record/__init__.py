"""``robomme-mem record``: make RoboMME demonstrations, as RoboMME makes its dataset.

For each task, split and episode, RoboMME's metadata gives a seed and a difficulty; the env is
made with them, RoboMME's recorder wraps it, and the task's own solvers drive the arm through
RoboMME's fail-aware planners, with a failed grasp injected where RoboMME's own flow injects one.
An episode the env calls a success is kept; any other is reported with its reason.

- :mod:`.jobs`: which episodes, with which seeds, difficulties and failures (pure);
- :mod:`.episode`: one episode in the simulator (runs where RoboMME is installed);
- :mod:`.staged`: an episode staged whole, checked, then merged into ``record_dataset_<Task>.h5``;
- :mod:`.run`: the run: resume, workers or Ray, the manifest.
"""
