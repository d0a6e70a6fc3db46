import os
import stat

import pytest

from reprotune.io import staged_dir, write_json, write_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_and_folders_get_usual_permissions(tmp_path):
    os.umask(0o022)
    write_text(tmp_path / "a.txt", "x")
    with staged_dir(tmp_path / "out") as folder:
        write_json(folder / "b.json", {})
    assert mode(tmp_path / "a.txt") == 0o644
    assert mode(tmp_path / "out") == 0o755
    assert mode(tmp_path / "out" / "b.json") == 0o644


def test_failed_block_leaves_the_old_folder_and_no_staging(tmp_path):
    with staged_dir(tmp_path / "out") as folder:
        write_text(folder / "keep.txt", "old")
    with pytest.raises(RuntimeError), staged_dir(tmp_path / "out") as folder:
        write_text(folder / "half.txt", "new")
        raise RuntimeError("stage failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
