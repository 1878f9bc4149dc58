"""`--allow-path DIR`, shared by `tinmen validate`, `run` and `sweep`."""

from __future__ import annotations

import argparse


def add_allow_path_flag(parser: argparse.ArgumentParser) -> None:
    """--allow-path DIR: a folder outside the scenario's (or sweep file's) own whose data
    files may be read."""
    parser.add_argument("--allow-path", dest="allow_paths", action="append", default=[],
                        metavar="DIR", help="also read data files (edge lists) from this "
                        "folder; by default only from the folder of the file that names them "
                        "(the scenario, the sweep file or its base scenario) (repeatable)")
