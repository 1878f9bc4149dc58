"""Files a scenario names (edge lists): resolved, contained and told apart before use.

A data path is read relative to the scenario file's folder and must stay inside it, so a
scenario received from someone else cannot make tinmen open `/etc/shadow` or
`/proc/self/environ`. Folders the user names with `--allow-path` are allowed too. Errors name
the path and what is wrong with it; they never quote the file's contents. Sweeps apply the
same rules to the paths they set (`sim.sweep.sweep_paths`).
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

from agents.errors import ScenarioError


def contained_path(raw: str, base: Path, allowed: Sequence[str | Path] = (),
                   what: str = "file", owner: str = "scenario") -> Path:
    """Resolve `raw` against `base`; return it if it is a regular file in an allowed folder.

    `owner` names the file whose folder `base` is (the scenario, or a sweep file) in the
    messages. Raises `ScenarioError` (one line, without the source prefix) for a path outside
    `base` and `allowed`, a missing path, a directory or a special file (device, FIFO, socket).
    """
    file = Path(raw)
    resolved = (file if file.is_absolute() else base / file).resolve()
    folders = [Path(base).resolve(), *(Path(a).expanduser().resolve() for a in allowed)]
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ScenarioError(
            f"{raw!r} is outside the {owner}'s folder {folders[0]}; data files are read "
            "only from there: move the file into it, or pass --allow-path "
            f"{resolved.parent} to allow that folder")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise ScenarioError(f"{what} not found: {raw} (a relative path is read from the "
                            f"{owner}'s folder); check the path") from None
    except OSError as exc:
        raise ScenarioError(f"{raw}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ScenarioError(f"{raw} is a directory, not a file; name the file inside it")
    if not stat.S_ISREG(mode):
        raise ScenarioError(f"{raw} is not a regular file (a device, FIFO or socket); name a "
                            "text file")
    return resolved


def recheck_data_paths(config: dict, folders: Sequence[str | Path]) -> None:
    """Check again, where a run starts, that the edge list a resolved scenario names lies in
    one of `folders` (the folders allowed when the run was planned) and is a regular file.

    `config` is a resolved scenario mapping (its paths are absolute); raises `ScenarioError`.
    """
    dynamics = config.get("dynamics")
    wom = dynamics.get("word_of_mouth") if isinstance(dynamics, dict) else None
    network = wom.get("network") if isinstance(wom, dict) else None
    if (not folders or not isinstance(network, dict) or network.get("kind") != "edge_list"
            or not isinstance(network.get("path"), str)):
        return
    try:
        contained_path(network["path"], Path(folders[0]), folders[1:], "edge-list file",
                       "sweep file")
    except ScenarioError as exc:
        raise ScenarioError(f"dynamics.word_of_mouth.network.path: {exc}") from exc
