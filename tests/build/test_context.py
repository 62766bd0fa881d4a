"""Build context assembly: what goes in, what stays out, and a hash that means "same inputs"."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from vxdeploy.build.context import (
    USER_ROOT,
    UserCode,
    assemble_context,
)
from vxdeploy.errors import InvalidInputError
from vxdeploy.paths import containers_dir

DOCKERFILE = """\
ARG BASE_IMAGE=debian:12
FROM ${BASE_IMAGE}
COPY vxserve/ /app/vxserve/
COPY app.py /app/
USER app
"""


def write(path: Path, text: str = "x", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A containers/ folder like the bundled one: flask/ and common/vxserve/."""
    root = tmp_path / "containers"
    write(root / "flask" / "Dockerfile", DOCKERFILE)
    write(root / "flask" / ".dockerignore", "# comment\n\n*.md\nartifacts/\n!KEEP.md\n")
    write(root / "flask" / "app.py", "print('app')\n")
    write(root / "flask" / "entry.sh", "#!/bin/sh\n", mode=0o755)
    write(root / "flask" / "README.md", "docs")
    write(root / "flask" / "KEEP.md", "kept by an exception")
    write(root / "flask" / "artifacts" / "model.pt", "weights")
    write(root / "flask" / "__pycache__" / "app.cpython-311.pyc", "bytecode")
    write(root / "common" / "vxserve" / "__init__.py", "")
    write(root / "common" / "vxserve" / "service.py", "SERVE = 1\n")
    write(root / "common" / "vxserve" / "__pycache__" / "service.cpython-311.pyc", "bytecode")
    # `*.md` matches at the context root only (docker's rule), so this one is kept.
    write(root / "common" / "vxserve" / "notes.md", "kept")
    return root


def assemble(root: Path, **kwargs):
    return assemble_context(root / "flask", root / "common", **kwargs)


def test_context_holds_the_container_and_vxserve_without_ignored_files(tree):
    ctx = assemble(tree)
    assert ctx.names == [".dockerignore", "Dockerfile", "KEEP.md", "app.py", "entry.sh",
                         "vxserve/__init__.py", "vxserve/notes.md", "vxserve/service.py"]
    assert ctx.file("entry.sh").executable and not ctx.file("app.py").executable
    assert ctx.file("Dockerfile").read().decode() == DOCKERFILE  # untouched without user code
    assert len(ctx.tag) == 16 and ctx.digest.startswith(ctx.tag)


def test_user_code_goes_under_vxdeploy_user_and_is_wired_in_the_dockerfile(tree, tmp_path):
    handler = write(tmp_path / "src" / "my_handler.py", "class H: ...\n")
    code = tmp_path / "src" / "netpkg"
    write(code / "__init__.py", "")
    write(code / "layers.py", "L = 1\n")
    write(code / "__pycache__" / "layers.cpython-311.pyc", "bytecode")
    reqs = write(tmp_path / "src" / "extra.txt", "tokenizers==0.20.0\n")
    ctx = assemble(tree, user=UserCode(handler=handler, handler_object="H", model_code=code,
                                       requirements=reqs))
    user_files = [n for n in ctx.names if n.startswith("vxdeploy-user/")]
    assert user_files == ["vxdeploy-user/my_handler.py", "vxdeploy-user/netpkg/__init__.py",
                          "vxdeploy-user/netpkg/layers.py", "vxdeploy-user/requirements.txt"]
    dockerfile = ctx.file("Dockerfile").read().decode()
    added = dockerfile[len(DOCKERFILE):].strip().splitlines()
    # Requirements in their own layer before the code; root for pip, then the container's user.
    assert added[1] == "USER root"
    assert added[2] == f"COPY vxdeploy-user/requirements.txt {USER_ROOT}/requirements.txt"
    assert added[3].startswith("RUN python3 -m pip install") and added[3].endswith(
        f"-r {USER_ROOT}/requirements.txt")
    assert added[4] == f"COPY vxdeploy-user/ {USER_ROOT}/"
    assert f"VXSERVE_HANDLER={USER_ROOT}/my_handler.py:H" in added[5]
    assert f"PYTHONPATH={USER_ROOT}" in added[5]
    assert added[6] == "USER app"


def test_user_handler_only_needs_no_pip_layer(tree, tmp_path):
    handler = write(tmp_path / "h.py", "")
    dockerfile = assemble(tree, user=UserCode(handler=handler)).file("Dockerfile").read().decode()
    assert "pip install" not in dockerfile
    assert f"VXSERVE_HANDLER={USER_ROOT}/h.py\n" in dockerfile.replace(" ", "\n") + "\n"


def test_same_inputs_same_hash_wherever_and_whenever_they_are(tree, tmp_path):
    first = assemble(tree)
    copy = tmp_path / "elsewhere" / "containers"
    shutil.copytree(tree, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))  # other mtimes do not matter
    write(copy / "flask" / "__pycache__" / "new.pyc", "more bytecode")  # nor test debris
    second = assemble(copy)
    assert second.digest == first.digest
    assert second.tar_bytes() == first.tar_bytes()  # byte-identical tar


@pytest.mark.parametrize("change", ["content", "new_file", "mode", "build_arg", "vxserve"])
def test_any_real_change_gives_a_new_tag(tree, change):
    before = assemble(tree, build_args={"BASE_IMAGE": "a"})
    if change == "content":
        write(tree / "flask" / "app.py", "print('changed')\n")
    elif change == "new_file":
        write(tree / "flask" / "extra.py", "")
    elif change == "mode":
        (tree / "flask" / "app.py").chmod(0o755)
    elif change == "vxserve":
        write(tree / "common" / "vxserve" / "service.py", "SERVE = 2\n")
    args = {"BASE_IMAGE": "b" if change == "build_arg" else "a"}
    assert assemble(tree, build_args=args).tag != before.tag


def test_ignored_files_do_not_change_the_tag(tree):
    before = assemble(tree)
    write(tree / "flask" / "CHANGELOG.md", "ignored")
    write(tree / "flask" / "artifacts" / "other.pt", "ignored")
    assert assemble(tree).tag == before.tag


def test_tar_is_what_the_file_list_says(tree):
    ctx = assemble(tree)
    with tarfile.open(fileobj=io.BytesIO(ctx.tar_bytes())) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == ctx.names
        assert {m.uid for m in members} == {0}
        assert archive.extractfile("app.py").read() == b"print('app')\n"
        assert archive.getmember("entry.sh").mode == 0o755


def test_missing_pieces_are_clear_errors(tree, tmp_path):
    (tree / "flask" / "Dockerfile").unlink()
    with pytest.raises(InvalidInputError, match="no Dockerfile"):
        assemble(tree)
    write(tree / "flask" / "Dockerfile", DOCKERFILE)
    with pytest.raises(InvalidInputError, match="vxserve runtime is missing"):
        assemble_context(tree / "flask", tmp_path / "nowhere")
    write(tree / "flask" / "vxserve" / "x.py", "")
    with pytest.raises(InvalidInputError, match="must not hold its own vxserve"):
        assemble(tree)


def test_user_files_with_clashing_names_are_refused(tree, tmp_path):
    a = write(tmp_path / "a" / "requirements.txt", "")
    with pytest.raises(InvalidInputError, match="different names"):
        assemble(tree, user=UserCode(handler=a, requirements=a))


def test_bundled_flask_container_assembles_with_vxserve():
    root = containers_dir()
    assert (root / "flask" / "Dockerfile").is_file(), "containers/flask: no Dockerfile"
    ctx = assemble_context(root / "flask", root / "common")
    assert "Dockerfile" in ctx.names and "vxserve/__init__.py" in ctx.names
    assert not [n for n in ctx.names if "__pycache__" in n or n.endswith(".pyc")]
    assert assemble_context(root / "flask", root / "common").digest == ctx.digest
