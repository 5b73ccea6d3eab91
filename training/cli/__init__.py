"""Thin command-line entry points of the training commands (parse arguments, call one function)."""
