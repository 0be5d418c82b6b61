"""Output folders that must not mix what a command writes with files already there."""

from __future__ import annotations

import os
from pathlib import Path


def require_new_folder(path: str | Path, action: str) -> None:
    """Raise ``FileExistsError`` unless ``path`` is missing or an empty folder; ``action`` names the command
    for the message (a model saved over another would leave stale files beside the new ones)."""
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise FileExistsError(f"{path} is not an empty folder; {action} into a new one")
