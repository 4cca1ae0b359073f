"""Shared package of *The Scaling Debate, Reproduced*.

Chapters import from here and never copy code from each other. One concept per module:
see ``DESIGN.md`` in the book's repository for the map.
"""

from scaling_debate.kernels import pin_cpu_kernels as _pin_cpu_kernels
from scaling_debate.lifetime import exit_with_parent_if_requested as _exit_with_parent

# before anything can import torch: every process that imports the package trains on the same
# CPU kernels (see kernels.py), and a chapter's kernel ends when the build that started it ends
_pin_cpu_kernels()
_exit_with_parent()

__version__ = "0.1.0"
