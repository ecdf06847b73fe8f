"""`bench --against REV`: this tree's C++ kernels timed against another revision's in one run."""
import shutil
import subprocess

import pytest

from suite.activations.fused import native
from suite.bench import against
from suite.errors import SuiteError
from native_builds import needs_compiler


def test_sources_at_a_revision_are_that_revisions_kernel_files(tmp_path):
    """HEAD's kernel sources, extracted from git, are the files of this checkout's csrc
    wherever they are committed unchanged."""
    _, folder = against.sources_at("HEAD", tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    assert "pau.cpp" in names and "simd.h" in names
    status = subprocess.run(["git", "-C", str(against.repo_root()), "status", "--porcelain", "--",
                             against.CSRC_IN_REPO], capture_output=True, text=True).stdout
    for name in names:
        if name not in status:
            assert (folder / name).read_bytes() == (native.CSRC / name).read_bytes(), name


def test_an_unknown_revision_is_named_in_the_error(tmp_path):
    with pytest.raises(SuiteError, match="revision 'no-such-revision' is not accepted"):
        against.sources_at("no-such-revision", tmp_path)


def test_an_activation_without_a_kernel_is_refused():
    with pytest.raises(SuiteError, match="'relu' has no fused CPU kernel"):
        against.run(["relu"], "HEAD", shape=(2, 4, 64), quick=True)


@needs_compiler
def test_the_other_revisions_kernel_is_what_runs(tmp_path, monkeypatch):
    """A "revision" whose PAU forward doubles y: the comparison must see the difference
    (so the swapped-in build really ran) and report the three passes' ratios."""
    old = tmp_path / "csrc"
    shutil.copytree(native.CSRC, old)
    source = (old / "pau.cpp").read_text()
    # version A, PAU's default: the authors' released form
    changed = source.replace("return p / (1.0f + s * t);", "return 2.0f * p / (1.0f + s * t);")
    assert changed != source, "pau.cpp's forward changed shape: update this test"
    (old / "pau.cpp").write_text(changed)
    monkeypatch.setattr(against, "sources_at", lambda revision, into: ("doubled", old))
    from suite.activations.fused import cpu_pau
    ours = cpu_pau.NATIVE.get()
    [row] = against.run(["pau"], "doubled", shape=(2, 4, 300), quick=True)
    assert row["kernels"] == ["pau.cpp"] and row["revision"] == "doubled"
    assert row["max_difference"] > 0.1  # y doubled: |y| reaches well above 0.1 on randn inputs
    assert set(row["ratio"]) == {"fwd", "bwd", "fwdbwd"}
    assert all(r["median_s"] > 0 for r in row["ratio"].values())
    # afterwards the extension serves this tree's build again, through the unpatched get
    assert native.NativeExtension.get.__name__ == "get"
    assert cpu_pau.NATIVE.get() is ours


def test_cli_against_needs_activations_and_says_so(capsys):
    from suite.cli import main

    assert main(["bench", "--against", "HEAD", "--quick"]) == 2
    assert "--act" in capsys.readouterr().err
