"""From a profile to a build context: user files resolved and checked before any engine call."""

from __future__ import annotations

from pathlib import Path

import pytest

from vxdeploy.build import prepare_context
from vxdeploy.build.builder import user_code
from vxdeploy.errors import InvalidInputError
from vxdeploy.profile import load_profile

DOCKERFILE = "ARG BASE_IMAGE=debian:12\nFROM ${BASE_IMAGE}\nUSER app\n"


@pytest.fixture
def containers(tmp_path: Path) -> Path:
    root = tmp_path / "containers"
    (root / "flask").mkdir(parents=True)
    (root / "flask" / "Dockerfile").write_text(DOCKERFILE)
    (root / "torchserve").mkdir()
    (root / "torchserve" / "Dockerfile").write_text("FROM debian:12\n")
    (root / "common" / "vxserve").mkdir(parents=True)
    (root / "common" / "vxserve" / "__init__.py").write_text("")
    return root


def profile_file(folder: Path, model: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "p.toml"
    path.write_text(f'target = "local"\n[model]\n{model}\n')
    return path


def test_user_paths_are_relative_to_the_profile_file(tmp_path, containers, monkeypatch):
    code = tmp_path / "proj" / "code"
    code.mkdir(parents=True)
    (code / "handler.py").write_text("")
    (code / "reqs.txt").write_text("six\n")
    path = profile_file(tmp_path / "proj" / "profiles", 'handler = "../code/handler.py:MyHandler"'
                        '\nrequirements = "../code/reqs.txt"')
    monkeypatch.chdir(tmp_path)  # not where the profile is
    loaded = load_profile(str(path), tmp_path)
    user = user_code(loaded)
    assert user.handler == code / "handler.py"
    assert user.handler_object == "MyHandler"
    context, base = prepare_context(loaded, containers_root=containers)
    assert "vxdeploy-user/handler.py" in context.names
    assert "vxdeploy-user/requirements.txt" in context.names
    assert base == "debian:12"  # the Dockerfile's default


def test_cli_set_paths_are_relative_to_the_working_directory(tmp_path, containers, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "h.py").write_text("")
    path = profile_file(tmp_path / "profiles", "")
    monkeypatch.chdir(tmp_path / "work")
    loaded = load_profile(str(path), tmp_path, cli_overrides=["model.handler=h.py"])
    assert user_code(loaded).handler == tmp_path / "work" / "h.py"


def test_missing_user_file_names_the_field_and_the_file(tmp_path, containers):
    path = profile_file(tmp_path, 'requirements = "nope.txt"')
    with pytest.raises(InvalidInputError,
                       match=r"p\.toml: model\.requirements = .*nope\.txt does not exist"):
        prepare_context(load_profile(str(path), tmp_path), containers_root=containers)


def test_base_image_from_option_then_profile(tmp_path, containers):
    path = profile_file(tmp_path, 'base_image = "local/base:1"')
    loaded = load_profile(str(path), tmp_path)
    context, base = prepare_context(loaded, containers_root=containers)
    assert base == "local/base:1" and context.build_args == {"BASE_IMAGE": "local/base:1"}
    other, base = prepare_context(loaded, base_image="local/base:2", containers_root=containers)
    assert base == "local/base:2" and other.tag != context.tag


def test_base_image_needs_a_dockerfile_that_takes_it(tmp_path, containers):
    path = profile_file(tmp_path, 'container = "torchserve"\nbase_image = "x:1"')
    with pytest.raises(InvalidInputError, match="declares no `ARG BASE_IMAGE`"):
        prepare_context(load_profile(str(path), tmp_path), containers_root=containers)


def test_custom_and_missing_containers_are_refused(tmp_path, containers):
    path = profile_file(tmp_path, 'container = "custom"\nimage = "x"')
    with pytest.raises(InvalidInputError, match="nothing to build; use one of: flask"):
        prepare_context(load_profile(str(path), tmp_path), containers_root=containers)
    path = profile_file(tmp_path, 'container = "tensorrt"')
    with pytest.raises(InvalidInputError, match=r"tensorrt.*does not exist"):
        prepare_context(load_profile(str(path), tmp_path), containers_root=containers)
