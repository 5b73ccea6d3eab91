"""Fitting: the training config, the model, the train loop, calibration, the n-gram baseline, the stacker."""
