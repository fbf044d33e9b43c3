"""Every test folder is a package, so two folders may hold helpers of the same name and a
helper is imported by its package, never by whatever folder pytest put first on sys.path."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_TESTS = {"fixtures", "__pycache__"}


def test_every_test_folder_is_a_package():
    missing = []
    for dirpath, dirnames, filenames in os.walk(HERE):
        dirnames[:] = [d for d in dirnames if d not in NOT_TESTS and not d.startswith(".")]
        if dirpath != HERE and any(f.endswith(".py") for f in filenames) \
                and "__init__.py" not in filenames:
            missing.append(os.path.relpath(dirpath, HERE))
    assert missing == []
