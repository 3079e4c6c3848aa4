"""The two tiny studies that the study and report tests read, made once for the package's tests."""

import pytest

from dse.cli import main
from tests.dse.tiny import TINY_STUDY


@pytest.fixture(scope="package")
def studies(tmp_path_factory):
    """A 4-candidate search and the staged rule, sharing one policy cache.

    test_reports.py only reads them; test_run.py, which runs after it, also continues them.
    """
    root = tmp_path_factory.mktemp("studies")
    cache = str(root / "cache")
    assert main(["run", *TINY_STUDY, "--budget", "4", "--out", str(root / "search"), "--cache", cache]) == 0
    assert main(["run", *TINY_STUDY, "--strategy", "staged", "--budget", "20", "--out", str(root / "staged"), "--cache", cache]) == 0
    return root
