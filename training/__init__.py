"""commentmod.training: data, fine-tuning, evaluation and export (needs the [train] extra)."""
