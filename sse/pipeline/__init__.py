"""Running the recipe: the stage engine behind ``launch_init.sh``, ``iteration.sh`` and
``launch_gold.sh`` (:mod:`.stages`), and resumable k-NN mining of a pair list (:mod:`.mining_run`).

The top layer with :mod:`sse.plugin`: nothing below imports it."""
