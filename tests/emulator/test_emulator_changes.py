"""Change detection (dev/emulator/changes.py): the background watcher reports what counts, and nothing else; where it
cannot watch, the scan takes over and says why."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dev.emulator import changes
from dev.emulator.changes import FileWatcher, ShippedFiles


@pytest.fixture
def watched(tmp_path: Path):
    """A started watcher on ``tmp_path`` (exclude: ``notes``) and an Event set on every report."""
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "pkg").mkdir()
    rules = ShippedFiles.for_project(tmp_path, ["notes"], [], [])
    detector = changes.detector(lambda: rules, "watch")
    reported = threading.Event()
    detector.start(reported.set)
    assert detector.kind == "watchfiles"
    yield tmp_path, detector, reported
    detector.close()


def test_a_counted_edit_is_reported_and_ignored_ones_are_not(watched) -> None:
    project, detector, reported = watched
    (project / "notes").mkdir()
    (project / "notes" / "draft.py").write_text("ignored = 1\n")
    (project / "README.md").write_text("ignored\n")
    (project / "pkg" / "module.py").write_text("counted = 1\n")
    assert reported.wait(60), "the edit was never reported"
    assert detector.reports == 1, "an ignored file was reported as a change"
    assert detector.changed() is False, "a watcher pushes its changes; asking is for the scan"


def test_a_file_in_a_directory_created_after_start_is_seen(watched) -> None:
    project, detector, reported = watched
    (project / "pkg" / "new").mkdir()
    assert reported.wait(60)
    reported.clear()
    before = detector.reports
    (project / "pkg" / "new" / "late.py").write_text("x = 1\n")
    assert reported.wait(60), "a file in a new directory was not seen"
    assert detector.reports > before


def test_a_watcher_that_cannot_watch_falls_back_to_the_scan_and_says_why(tmp_path: Path) -> None:
    class NoInotify:
        def __init__(self, *args: object) -> None:
            raise OSError("inotify instance limit reached")

    (tmp_path / "app.py").write_text("x = 1\n")
    rules = ShippedFiles.for_project(tmp_path, [], [], [])
    watcher = FileWatcher(lambda: rules, NoInotify)
    watcher.start(lambda: None)
    assert watcher.kind == "scan"
    assert "inotify instance limit reached" in watcher.describe()
    assert watcher.changed() is False
    (tmp_path / "app2.py").write_text("y = 1\n")
    assert watcher.changed() is True, "the fallback scan must still see edits"


def test_without_watchfiles_the_scan_is_used(monkeypatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_watchfiles(name, *args, **kwargs):
        if name.startswith("watchfiles"):
            raise ImportError("No module named 'watchfiles'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_watchfiles)
    detector = changes.detector(lambda: ShippedFiles.for_project(tmp_path, [], [], []), "auto")
    assert detector.kind == "scan" and "watchfiles is not importable" in detector.describe()
    with pytest.raises(ImportError):
        changes.detector(lambda: ShippedFiles.for_project(tmp_path, [], [], []), "watch")
