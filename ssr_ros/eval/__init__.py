"""VSI-Bench-style evaluation on the simulator's ground truth: question generation
(:mod:`ssr_ros.eval.questions`) and scoring (:mod:`ssr_ros.eval.metrics`)."""
