"""Sweeps: plans, lockstep advancement of many runs, executors (local, Ray), the sweep store."""
