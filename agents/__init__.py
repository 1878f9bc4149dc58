"""How shopping agents decide: prompts, answer parsing, and inference backends.

This package never imports `sim`: the engine hands it plain requests and gets plain
completions back, so backends can be used and tested on their own.
"""
