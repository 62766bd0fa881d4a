"""Build contexts: exactly which files go into an image build, and the hash that names it.

The context is assembled in memory from three places — the bundled container folder, the
shared `vxserve` runtime (the Dockerfiles expect it at `vxserve/`) and the profile's own code
under `vxdeploy-user/` — and sent to the engine as a tar we write ourselves. Owning the file
list is what makes the tag trustworthy: the tag is a hash of the very bytes the engine
receives (plus the build arguments), so the same inputs always give the same tag and a
changed byte always gives a new one. Nothing about the machine (mtimes, owners, cache
folders) enters the hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from vxdeploy.build.dockerfile import add_user_layer
from vxdeploy.errors import InvalidInputError

# Bump when the layout or hashing changes, so old tags are not taken for new contexts.
CONTEXT_FORMAT = "vxdeploy-build-context/1"
USER_DIR = "vxdeploy-user"
WARM_DIR = "vxdeploy-warm"  # artifacts the build warms the torch.compile cache on
VXSERVE_DIR = "vxserve"
DOCKERFILE = "Dockerfile"
# Never part of an image, whatever the .dockerignore says: they change on every test run and
# would make the hash (and so the tag) unstable.
BUILTIN_IGNORES: tuple[str, ...] = (
    "**/__pycache__", "**/*.pyc", "**/*.pyo", "**/.pytest_cache", "**/.ruff_cache",
    "**/.mypy_cache", "**/.DS_Store", "**/*.swp", "**/*~",
)
_TAR_MTIME = 946684800  # 2000-01-01: fixed, so the tar is byte-identical for equal inputs


@dataclass(frozen=True)
class ContextFile:
    """One file of the context: where it goes (`arcname`) and where its bytes come from."""

    arcname: str
    source: Path | None = None
    data: bytes | None = None
    executable: bool = False

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None
        return self.source.read_bytes()


@dataclass(frozen=True)
class UserCode:
    """The profile's own files for the image (any of them may be absent)."""

    handler: Path | None = None
    handler_object: str = ""  # the ":Class" part of model.handler, if given
    model_code: Path | None = None
    requirements: Path | None = None
    # model.compile = "compile": artifacts to warm the torch.compile cache on at build time
    warm_artifacts: Path | None = None
    warm_threads: str = ""  # VXSERVE_TORCH_THREADS of the servers (part of the cache key)

    @property
    def has_code(self) -> bool:
        return not (self.handler is None and self.model_code is None and self.requirements is None)

    @property
    def empty(self) -> bool:
        return not self.has_code and self.warm_artifacts is None


@dataclass(frozen=True)
class BuildContext:
    """An assembled context: its files (sorted), build arguments and content hash."""

    container: str
    files: tuple[ContextFile, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)
    digest: str = ""

    @property
    def tag(self) -> str:
        """The image tag: the first 16 hex digits of the content hash."""
        return self.digest[:16]

    @property
    def names(self) -> list[str]:
        return [f.arcname for f in self.files]

    def file(self, arcname: str) -> ContextFile:
        for item in self.files:
            if item.arcname == arcname:
                return item
        raise KeyError(arcname)

    def write_tar(self, fileobj: BinaryIO) -> None:
        """Write the context as an uncompressed tar, byte-identical for equal contexts."""
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for item in self.files:
                payload = item.read()
                info = tarfile.TarInfo(item.arcname)
                info.size = len(payload)
                info.mode = 0o755 if item.executable else 0o644
                info.mtime = _TAR_MTIME
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                archive.addfile(info, io.BytesIO(payload))

    def tar_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.write_tar(buffer)
        return buffer.getvalue()


def read_dockerignore(path: Path) -> list[str]:
    """Patterns of a .dockerignore file, comments and blank lines dropped (as docker does)."""
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class _Ignore:
    """.dockerignore matching with the docker library's port of moby's own matcher."""

    def __init__(self, patterns: Iterable[str]):
        from docker.utils.build import PatternMatcher

        self._matcher = PatternMatcher(list(patterns))

    def excludes(self, arcname: str) -> bool:
        return bool(self._matcher.matches(arcname))


def _walk(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """Regular files below `root` as (arcname, path); symlinked files are followed."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file():
                rel = path.relative_to(root).as_posix()
                found.append((f"{prefix}{rel}", path))
    return found


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def _user_files(user: UserCode) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    if user.handler is not None:
        files.append((f"{USER_DIR}/{user.handler.name}", user.handler))
    if user.model_code is not None:
        if user.model_code.is_dir():
            files.extend(_walk(user.model_code, f"{USER_DIR}/{user.model_code.name}/"))
        else:
            files.append((f"{USER_DIR}/{user.model_code.name}", user.model_code))
    if user.requirements is not None:
        files.append((f"{USER_DIR}/requirements.txt", user.requirements))
    if user.warm_artifacts is not None:
        files.extend(_walk(user.warm_artifacts, f"{WARM_DIR}/"))
    seen: set[str] = set()
    for arcname, _ in files:
        if arcname in seen:
            raise InvalidInputError(
                f"model.handler, model.model_code and model.requirements both map to {arcname}; "
                "give the files different names")
        seen.add(arcname)
    return files


def assemble_context(container_dir: Path, common_dir: Path, *,
                     user: UserCode | None = None,
                     build_args: Mapping[str, str] | None = None) -> BuildContext:
    """Collect the files of one image build and hash them.

    `container_dir` is a bundled container (`containers/flask`), `common_dir` the folder
    holding the `vxserve` package (`containers/common`). The container's .dockerignore
    applies to its own files and to `vxserve/` (docker would apply it to the whole context);
    the user's files are named one by one in the profile, so only BUILTIN_IGNORES filter them.
    """
    user = user or UserCode()
    build_args = dict(sorted((build_args or {}).items()))
    dockerfile_path = container_dir / DOCKERFILE
    if not dockerfile_path.is_file():
        raise InvalidInputError(f"{dockerfile_path}: no Dockerfile in the container folder")
    vxserve = common_dir / VXSERVE_DIR
    if not vxserve.is_dir():
        raise InvalidInputError(f"{vxserve}: the shared vxserve runtime is missing")

    patterns = read_dockerignore(container_dir / ".dockerignore")
    project_ignore = _Ignore([*BUILTIN_IGNORES, *patterns])
    builtin_ignore = _Ignore(BUILTIN_IGNORES)
    always = {DOCKERFILE, ".dockerignore"}

    entries: dict[str, ContextFile] = {}
    container_files = _walk(container_dir)
    if any(name == VXSERVE_DIR or name.startswith(f"{VXSERVE_DIR}/")
           for name, _ in container_files):
        raise InvalidInputError(
            f"{container_dir}/{VXSERVE_DIR}: the container folder must not hold its own "
            "vxserve/ (the build copies containers/common/vxserve)")
    for arcname, path in [*container_files, *_walk(vxserve, f"{VXSERVE_DIR}/")]:
        if arcname in always or not project_ignore.excludes(arcname):
            entries[arcname] = ContextFile(arcname, source=path, executable=_is_executable(path))
    for arcname, path in _user_files(user):
        if not builtin_ignore.excludes(arcname):
            entries[arcname] = ContextFile(arcname, source=path, executable=False)

    if not user.empty:
        text = add_user_layer(dockerfile_path.read_text(encoding="utf-8"), user_layer(user))
        entries[DOCKERFILE] = ContextFile(DOCKERFILE, data=text.encode("utf-8"))

    files = tuple(entries[name] for name in sorted(entries))
    return BuildContext(container_dir.name, files, build_args,
                        context_digest(files, build_args))


def context_digest(files: Iterable[ContextFile], build_args: Mapping[str, str]) -> str:
    """sha256 over every file's name, mode and content, and the build arguments."""
    digest = hashlib.sha256(CONTEXT_FORMAT.encode() + b"\n")
    for item in files:
        content = hashlib.sha256(item.read()).hexdigest()
        digest.update(f"file {item.arcname} {int(item.executable)} {content}\n".encode())
    for key, value in sorted(build_args.items()):
        digest.update(f"arg {key}={value}\n".encode())
    return digest.hexdigest()


USER_ROOT = "/opt/vxdeploy/user"


def user_layer(user: UserCode) -> list[str]:
    """Dockerfile lines that add the profile's code on top of the bundled container.

    Requirements come first, in their own layer, so editing the handler does not reinstall
    packages. The handler is wired through VXSERVE_HANDLER (vxserve's "file.py[:Class]");
    model code goes on PYTHONPATH so a state-dict handler can import it.
    """
    lines = [f"COPY {USER_DIR}/requirements.txt {USER_ROOT}/requirements.txt",
             f"RUN python3 -m pip install --no-cache-dir -r {USER_ROOT}/requirements.txt"] \
        if user.requirements is not None else []
    if user.has_code:
        lines.append(f"COPY {USER_DIR}/ {USER_ROOT}/")
        env = [f"PYTHONPATH={USER_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"]
        if user.handler is not None:
            target = f"{USER_ROOT}/{user.handler.name}"
            if user.handler_object:
                target += f":{user.handler_object}"
            env.append(f"VXSERVE_HANDLER={target}")
        lines.append("ENV " + " ".join(env))
    if user.warm_artifacts is not None:
        lines.extend(warm_layer(user.warm_threads))
    return lines


WARM_ARTIFACTS = "/opt/vxdeploy/warm-artifacts"
COMPILE_CACHE = "/opt/vxdeploy/compile-cache"


def warm_layer(threads: str) -> list[str]:
    """Build steps that compile the model once into the image's torch.compile cache.

    `python -m vxserve.warm` is the servers' own loader and compiler; the cache folder is
    made writable for the non-root server (inductor takes file locks in it). The thread
    count is part of inductor's cache key, so the servers' VXSERVE_TORCH_THREADS is used.
    """
    prefix = "VXSERVE_COMPILE=compile " + (f"VXSERVE_TORCH_THREADS={threads} " if threads else "")
    return [
        # Inductor compiles C++ against Python.h on CPU (here, and at start-up on any cache
        # miss); Debian-based images without them get g++ and python3-dev.
        "RUN (command -v c++ >/dev/null && python3 -c \"import os, sysconfig; "
        "assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))\") "
        "|| (apt-get update && apt-get install -y --no-install-recommends g++ python3-dev "
        "&& rm -rf /var/lib/apt/lists/*)",
        f"COPY {WARM_DIR}/ {WARM_ARTIFACTS}/",
        f"ENV VXSERVE_COMPILE_CACHE_DIR={COMPILE_CACHE}",
        f"RUN mkdir -p {COMPILE_CACHE} && {prefix}python3 -m vxserve.warm {WARM_ARTIFACTS} "
        f"&& chmod -R a+rwX {COMPILE_CACHE}",
    ]
