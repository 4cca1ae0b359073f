"""The training room: run specs and their hash, the model, the trainer, the store, sweeps.

Nothing here is imported by the analysis room: chapters analyse stored runs without torch.
"""
