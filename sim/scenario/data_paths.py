"""Files a scenario names (edge lists): resolved, contained and told apart before use.

A data path is read relative to the scenario file's folder and must stay inside it, so a
scenario received from someone else cannot make tinmen open `/etc/shadow` or
`/proc/self/environ`. Folders the user names with `--allow-path` are allowed too. Errors name
the path and what is wrong with it; they never quote the file's contents.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

from agents.errors import ScenarioError


def contained_path(raw: str, base: Path, allowed: Sequence[str | Path] = (),
                   what: str = "file") -> Path:
    """Resolve `raw` against `base`; return it if it is a regular file in an allowed folder.

    Raises `ScenarioError` (one line, without the source prefix) for a path outside `base`
    and `allowed`, a missing path, a directory or a special file (device, FIFO, socket).
    """
    file = Path(raw)
    resolved = (file if file.is_absolute() else base / file).resolve()
    folders = [Path(base).resolve(), *(Path(a).expanduser().resolve() for a in allowed)]
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ScenarioError(
            f"{raw!r} is outside the scenario's folder {folders[0]}; data files are read "
            "only from there: move the file into it, or pass --allow-path "
            f"{resolved.parent} to allow that folder")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise ScenarioError(f"{what} not found: {raw} (a relative path is read from the "
                            "scenario file's folder); check the path") from None
    except OSError as exc:
        raise ScenarioError(f"{raw}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ScenarioError(f"{raw} is a directory, not a file; name the file inside it")
    if not stat.S_ISREG(mode):
        raise ScenarioError(f"{raw} is not a regular file (a device, FIFO or socket); name a "
                            "text file")
    return resolved
