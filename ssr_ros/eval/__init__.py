"""VSI-Bench-style evaluation on the simulator's ground truth: the benchmark adapter over
the robot's query engine (:mod:`ssr_ros.eval.adapter`), question answering and scoring
(:mod:`ssr_ros.eval.qa`, :mod:`ssr_ros.eval.metrics`) and ``ssr-eval``
(:mod:`ssr_ros.eval.run`). The questions themselves are ground truth of a simulated
scene and come from :mod:`ssr_ros.sim.questions`; ``eval`` imports ``sim``, never the
reverse."""
