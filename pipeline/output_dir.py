"""The output folder, seen from the launcher: one run at a time, no silent mixing with an earlier run.

- A lock file ``<output>/.lock`` is created exclusively (O_EXCL on local disks) and names the run,
  the process and the host. A second run into the same folder is refused while the first is alive;
  a lock left by a process that died on this host is taken over. The last step of the run
  (pipeline.graph.finish_run) and the launcher both remove it.
- A folder holding an earlier run's outputs (pipeline.writer.OUTPUT_FILES/OUTPUT_FOLDERS, or any
  other visible entry) is refused unless ``--overwrite``; the commit then replaces every kind of
  output at once.
- Temporary folders (``.tmp-<run>``) of runs that were killed are deleted once the lock is held.
"""

from __future__ import annotations

import json
import os
import socket
import time

from apache_beam.io.filesystems import FileSystems

from pipeline.writer import delete_folder, read_json

LOCK = ".lock"


class OutputBusy(RuntimeError):
    """Another run holds the folder, or it holds an earlier run and --overwrite was not given."""


def _is_local(path: str) -> bool:
    return "://" not in path


def lock_path(out_dir: str) -> str:
    return FileSystems.join(out_dir, LOCK)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(out_dir: str, run_id: str) -> None:
    """Take the folder's lock for ``run_id`` or raise OutputBusy naming the run that holds it."""
    record = json.dumps(
        {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    ).encode()
    path = lock_path(out_dir)
    if not _is_local(out_dir):
        # Object stores have no exclusive create: check, then write (a narrow race, documented).
        if FileSystems.exists(path):
            raise OutputBusy(_busy_message(out_dir, _read_lock(path)))
        with FileSystems.create(path) as sink:
            sink.write(record)
        return
    os.makedirs(out_dir, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid") or 0)):
                os.remove(path)  # left by a run that died on this machine
                continue
            raise OutputBusy(_busy_message(out_dir, holder)) from None
        with os.fdopen(fd, "wb") as sink:
            sink.write(record)
        return
    raise OutputBusy(f"--output {out_dir}: cannot take the lock {path}")


def _read_lock(path: str) -> dict:
    holder = read_json(path)
    return holder if isinstance(holder, dict) else {}


def _busy_message(out_dir: str, holder: dict) -> str:
    who = f"run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')})"
    return (
        f"--output {out_dir} is being written by {who}; wait for it, or delete "
        f"{lock_path(out_dir)} if no such run is alive"
    )


def release_lock(out_dir: str, run_id: str) -> None:
    """Remove the lock if it is ``run_id``'s (never another run's)."""
    path = lock_path(out_dir)
    try:
        if FileSystems.exists(path) and _read_lock(path).get("run_id") == run_id:
            FileSystems.delete([path])
    except OSError:
        pass


def visible_entries(out_dir: str) -> list[str]:
    """What the folder holds, hidden entries (the lock, temporary folders) aside."""
    if _is_local(out_dir):
        if not os.path.isdir(out_dir):
            return []
        return sorted(name for name in os.listdir(out_dir) if not name.startswith("."))
    pattern = FileSystems.join(out_dir, "*")
    names = {
        m.path[len(out_dir) :].lstrip("/").split("/")[0]
        for m in FileSystems.match([pattern])[0].metadata_list
    }
    return sorted(name for name in names if name and not name.startswith("."))


def check_empty(out_dir: str, overwrite: bool) -> None:
    """Refuse a folder that holds anything unless ``overwrite``."""
    entries = visible_entries(out_dir)
    if entries and not overwrite:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        complete = (
            "an earlier run" if "manifest.json" in entries else "files (no manifest.json: an incomplete run?)"
        )
        raise OutputBusy(
            f"--output {out_dir} already holds {complete}: {shown}; add --overwrite to replace it, "
            "or choose another folder"
        )


def remove_stale_temp(out_dir: str) -> None:
    """Delete the ``.tmp-*`` folders of killed runs (the caller holds the lock: none is alive)."""
    if _is_local(out_dir):
        if os.path.isdir(out_dir):
            for name in os.listdir(out_dir):
                if name.startswith(".tmp-"):
                    delete_folder(os.path.join(out_dir, name))
        return
    for meta in FileSystems.match([FileSystems.join(out_dir, ".tmp-*")])[0].metadata_list:
        FileSystems.delete([meta.path])
