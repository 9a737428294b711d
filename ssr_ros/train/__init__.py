"""SSR's training curriculum: data from the embedded world, two stages, LoRA on the
language model, the anchored spatial branch, evaluation on held-out rooms.

Modules (torch is imported only by ``model``, ``loop``, ``evaluate`` and ``cli``):

- ``tasks``     the questions and answer formats of both stages; reading answers back
- ``data``      ``ssr-data``'s writer and reader (JSONL + ``.npz`` keyframes, split by seed)
- ``data_cli``  ``ssr-data``
- ``model``     the trainable model: frozen backbone + peft LoRA + spatial encoder, the
                interleaved training sequence and its loss
- ``loop``      stages, optimiser, resumable checkpoints, progress, adapter export
- ``evaluate``  a trained adapter through the runner on held-out samples
- ``cli``       ``ssr-train`` (and ``ssr-train eval``)
"""
