"""The world: scenario schema and loader, world maths, the Mesa engine, sweeps.

Layers, each importing only those below it: `scenario` (the validated file) and `world` (pure
maths), then `engine` (the model and the one single-run driver), then `sweep`.
"""
