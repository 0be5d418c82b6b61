"""A pixel_st module as it was at a git revision, for benchmarks that time old code against new in turns."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys


def module_at(revision: str, path: str, folder: str):
    """The module at ``path`` (e.g. ``pixel_st/render_pool.py``) as of ``revision``, imported from a copy in
    ``folder``. ``folder`` goes on ``sys.path``, which spawned processes inherit, so the copy's functions
    can run in worker processes too."""
    name = re.sub(r"\W", "_", f"{os.path.basename(path)[:-3]}_at_{revision}")
    with open(os.path.join(folder, f"{name}.py"), "w", encoding="utf-8") as file:
        file.write(subprocess.run(["git", "show", f"{revision}:{path}"], check=True, capture_output=True, text=True).stdout)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
