"""C++ kernel builds: a first build says so, `suite build` shows one line per kernel, and
a build's name changes with its source (two checkouts never rebuild each other's).
Builds are stubbed: a real one takes ~40 s."""
from __future__ import annotations

import shutil

import pytest

from suite.activations.fused import native
from suite.cli import main


@pytest.fixture
def extensions(monkeypatch, tmp_path):
    """A private list of extensions and an empty torch build cache."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "EXTENSIONS", [])
    return native.EXTENSIONS


def _stub(monkeypatch, name, *, fail=False):
    ext = native.NativeExtension(name, "pwlu.cpp", what=f"{name} kernel")

    def build(*args, **kwargs):
        if fail:
            raise RuntimeError("no compiler here\nmore lines")
        return object()

    monkeypatch.setattr(ext, "build", build)
    return ext


def _pretend_cached(ext):
    folder = native._cpp_extension()._get_build_directory(ext.build_name(), verbose=False)
    (native.Path(folder) / f"{ext.build_name()}.so").write_bytes(b"")


def test_a_first_build_says_so_and_a_cached_one_is_silent(extensions, monkeypatch, capsys):
    fresh = _stub(monkeypatch, "fresh")
    assert not fresh.cached() and fresh.get() is not None
    err = capsys.readouterr().err
    assert "building the fresh kernel" in err and "built the fresh kernel in" in err
    cached = _stub(monkeypatch, "cached")
    _pretend_cached(cached)
    assert cached.cached() and cached.get() is not None
    assert "building" not in capsys.readouterr().err


def test_suite_build_prints_a_line_per_kernel_and_fails_clearly(extensions, monkeypatch, capsys):
    first, second = _stub(monkeypatch, "one"), _stub(monkeypatch, "two")
    _pretend_cached(first)
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] one kernel (pwlu.cpp): already built" in out and "[2/2] two kernel (pwlu.cpp): built in" in out
    _stub(monkeypatch, "broken", fail=True)  # declared: joins the list
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "[3/3] broken kernel (pwlu.cpp): failed (no compiler here)" in err
    assert "error: 1 kernel(s) could not be built (broken)" in err


def test_the_build_name_follows_the_source(tmp_path):
    """A build is named by its source and its folder: two checkouts never share (and so never
    rebuild) one build folder, since ninja rebuilds when the include path on its command
    line changes; one checkout's name changes when its source does."""
    ext = native.NativeExtension("pwlu_probe", "pwlu.cpp", what="probe")
    native.EXTENSIONS.remove(ext)
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(native.CSRC, a)
    shutil.copytree(native.CSRC, b)
    assert ext.build_name(csrc=a) == ext.build_name(csrc=a) and ext.build_name() == ext.build_name(csrc=native.CSRC)
    assert len({ext.build_name(csrc=a), ext.build_name(csrc=b), ext.build_name()}) == 3
    before = ext.build_name(csrc=b)
    (b / "pwlu.cpp").write_text((b / "pwlu.cpp").read_text() + "\n// changed\n")
    assert ext.build_name(csrc=b) != before
