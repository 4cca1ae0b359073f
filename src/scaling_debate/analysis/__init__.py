"""The analysis room: laws, uncertainty, model selection, and each chapter's own analysis.

Imports neither torch nor the training room, so stored results can be analysed anywhere.
"""
