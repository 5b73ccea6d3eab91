"""Retraining on moderators' decisions: ``commentmod retrain`` (docs/retrain.md).

A run (the parent) is refitted on the label store's decisions (:mod:`..labels`), split by article
(:mod:`.split`), mixed with a replay sample of the parent's base data (:mod:`.replay`). ``fast``
mode keeps the encoder and refits the head on its cached outputs (:mod:`.features`, :mod:`.head`),
the n-gram model and the stacker (:mod:`.fast`). The child is compared with its parent per label x
language (:mod:`.gate`) and promoted (exported, with its lineage, :mod:`.versions`) only when it
holds on the base test split and does not get worse on the held-out new labels (:mod:`.pipeline`).

Import the modules themselves (``from commentmod.training.retrain.pipeline import retrain``): this
package's ``__init__`` stays light so the gate's pure functions load without torch.
"""
