"""Reports: evaluation metrics and EVALUATION.md, the shortcut probe, the model card."""
