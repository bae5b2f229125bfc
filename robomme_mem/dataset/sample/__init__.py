"""The embedded sample: what ``robomme-mem build`` builds with no ``--source``. :mod:`.embedded`
generates it on first use and caches it; :mod:`.generator` writes its RoboMME-format episodes and
:mod:`.generated_truth` their scene truth. Nothing of a real build imports it."""
