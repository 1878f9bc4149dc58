"""Inference backends: one small protocol, created by name from a lazy registry.

Heavy dependencies (openai, torch, vllm) are imported only when their backend is created, and
a missing one yields a one-line error that names the `pip install` to run.
"""

from agents.backends.base import Backend, BackendWrapper, available_backends, create_backend
from agents.backends.conformance import check_backend, probe_requests

__all__ = ["Backend", "BackendWrapper", "available_backends", "check_backend", "create_backend",
           "probe_requests"]
