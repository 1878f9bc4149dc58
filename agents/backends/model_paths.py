"""Tell a local model folder that does not exist apart from a hub name (for one-line errors)."""

from __future__ import annotations

from pathlib import Path

from agents.errors import BackendCreationError


def looks_like_path(name: str) -> bool:
    """True when `name` can only be a filesystem path (a hub name is `org/name` at most)."""
    if (name.startswith(("/", "./", "../", "~", ".\\")) or name.count("/") > 1
            or "\\" in name or name in (".", "..")):
        return True
    parent = Path(name).parent
    return parent != Path(".") and parent.is_dir()  # "models/tiny" next to a models/ folder


def check_model_path(name: str, flag: str = "--model") -> None:
    """Raise `BackendCreationError` when `name` is a path that does not exist (or is a file)."""
    if not looks_like_path(name):
        return
    path = Path(name).expanduser()
    if not path.exists():
        raise BackendCreationError(
            f"the model path {name!r} does not exist; give the folder holding the model's "
            f"config.json and weights ({flag} or agents[].model), or a downloaded hub name "
            "such as 'org/name'")
    if not path.is_dir():
        raise BackendCreationError(
            f"the model path {name!r} is a file, not a model folder; give the folder holding "
            f"its config.json ({flag} or agents[].model)")
