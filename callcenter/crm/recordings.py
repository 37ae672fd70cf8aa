"""Where a recording path from the PBX is on this machine, if anywhere we may touch.

The call log's ``recording`` is what Asterisk's MixMonitor said (``MIXMONITOR_FILENAME``):
text from the PBX, which is not allowed to point the server at arbitrary files (a PBX-supplied
``/etc/passwd`` was once served as ``audio/wav`` and deleted by a GDPR erasure). Every use of
such a path - serving, deleting, transcribing - goes through :meth:`RecordingPaths.local`:

- ``[crm] recordings_dir`` is the folder the recordings are in on this machine. Without it,
  no recording is ever served, deleted or transcribed (refused and logged).
- ``[crm] recordings_pbx_dir`` is the same folder as the PBX names it, where the two
  machines differ (``/var/spool/asterisk/monitor`` mounted here as ``/srv/recordings``); a
  path outside it is refused. Empty: the PBX's paths are this machine's paths.
- The path must be absolute, without NUL; after ``..`` and symbolic links are resolved it
  must still be inside ``recordings_dir`` (a link inside pointing out is refused).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


class RecordingPaths:
    def __init__(self, root: str, pbx_root: str = "") -> None:
        self._root = Path(root).resolve() if root else None
        self._pbx_root = PurePosixPath(os.path.normpath(pbx_root)) if pbx_root else None

    @property
    def enabled(self) -> bool:
        return self._root is not None

    def why_refused(self, pbx_path: str) -> str | None:
        """None if :meth:`local` would map the path, else why not (blocking: resolves)."""
        return self._map(pbx_path)[1]

    def local(self, pbx_path: str) -> Path | None:
        """The confined local path (which need not exist), or None (logged) if refused.
        Blocking (it resolves symbolic links): call off the event loop."""
        path, why = self._map(pbx_path)
        if path is None:
            log.warning("recording path %r refused: %s", pbx_path, why)
        return path

    def _map(self, pbx_path: str) -> tuple[Path | None, str | None]:
        if self._root is None:
            return None, "crm.recordings_dir is not set"
        if not pbx_path or "\0" in pbx_path:
            return None, "empty or contains NUL"
        given = PurePosixPath(os.path.normpath(pbx_path))
        if not given.is_absolute():
            return None, "not an absolute path"
        base = self._pbx_root or PurePosixPath(self._root)
        if not given.is_relative_to(base) or given == base:
            return None, f"outside {base}"
        candidate = self._root / given.relative_to(base)
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            return None, f"cannot resolve: {exc}"
        if not resolved.is_relative_to(self._root) or resolved == self._root:
            return None, "a link leads out of crm.recordings_dir"
        return resolved, None

    def existing_file(self, pbx_path: str) -> Path | None:
        """:meth:`local`, if it is a regular file (blocking)."""
        path = self.local(pbx_path)
        return path if path is not None and path.is_file() else None
