"""``fastprune run``: the whole study (calibrate, prune, generate, train, evaluate, bench) in one run dir."""
