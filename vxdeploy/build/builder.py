"""Build (or reuse) a profile's serving image with the Docker Engine, and push it.

The image tag is the build context's content hash, so an unchanged profile never builds
twice: an image already in the registry (with --push) or in the engine is reused as is.
A push ends with the registry's manifest digest, the only reference deploy uses
(`image@sha256:...`): tags can move, digests cannot.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxdeploy.build import dockerfile as dockerfile_mod
from vxdeploy.build.context import DOCKERFILE, BuildContext, UserCode, assemble_context
from vxdeploy.build.engine import connect
from vxdeploy.build.progress import Emit, EventLog, console_emit
from vxdeploy.build.registry import ImageTarget, auth_config, image_target
from vxdeploy.errors import EngineUnavailableError, InvalidInputError, VxError
from vxdeploy.paths import CONTAINERS_DIR_ENV, containers_dir
from vxdeploy.profile.model import ContainerKind

if TYPE_CHECKING:
    import docker

    from vxdeploy.output import Output
    from vxdeploy.profile import LoadedProfile

BUILD_HASH_LABEL = "ai.vxdeploy.build-hash"
CONTAINER_LABEL = "ai.vxdeploy.container"
DEFAULT_NETWORK = "host"
# The same override the emulator's process runtime reads: another containers/ folder.
_PULL_FAILURES = ("pull access denied", "manifest unknown", "not found", "failed to resolve",
                  "no such host", "dial tcp", "tls handshake timeout", "client.timeout",
                  "connection refused", "no basic auth credentials", "unauthorized")


class BaseImageUnavailableError(EngineUnavailableError):
    """The engine cannot get the base image (not local, and pulling it failed)."""


class BuildFailedError(VxError):
    """A Dockerfile step failed; the message carries the step and the log's last lines."""


class PushFailedError(VxError):
    """The registry refused or lost the push."""


@dataclass(frozen=True)
class BuildResult:
    """What `build_image` made (or found).

    `image` is `repository:tag` with the content-hash `tag` (runnable in the engine that
    built it), `digest` the registry's manifest digest (None until pushed), `reused`
    whether no build ran. Deploy to Vertex with `digest_ref`, never with a tag.
    """

    image: str
    tag: str
    digest: str | None
    reused: bool
    repository: str = ""
    image_id: str | None = None
    pushed: bool = False
    extra_tags: tuple[str, ...] = ()
    base_image: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def digest_ref(self) -> str:
        """`repository@sha256:...`: what a Vertex Model version records."""
        if not self.digest:
            raise VxError(f"{self.image} was not pushed, so it has no registry digest",
                          hint="build with push=True (`vxdeploy build --push`)")
        return f"{self.repository}@{self.digest}"

    @property
    def reference(self) -> str:
        """An immutable reference: `digest_ref` once pushed, else the local image id."""
        if self.digest:
            return self.digest_ref
        return self.image_id or self.image

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image, "repository": self.repository, "tag": self.tag,
            "digest": self.digest, "reference": self.reference, "image_id": self.image_id,
            "built": not self.reused, "reused": self.reused, "pushed": self.pushed,
            "extra_tags": list(self.extra_tags), "base_image": self.base_image,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _resolve(value: str, loaded: LoadedProfile, dotted: str) -> Path:
    """A profile path, relative to the file that set it (cwd for env and --set values)."""
    path = Path(value.partition(":")[0] if dotted == "model.handler" else value).expanduser()
    if not path.is_absolute():
        source = loaded.source_of(dotted)
        source_path = Path(source)
        base = source_path.parent if source_path.suffix == ".toml" else Path.cwd()
        path = base / path
    path = path.resolve()
    if not path.exists():
        raise InvalidInputError(f"{loaded.source_of(dotted)}: {dotted} = {value!r}: "
                                f"{path} does not exist")
    if dotted not in ("model.model_code", "model.artifact_uri") and not path.is_file():
        raise InvalidInputError(f"{loaded.source_of(dotted)}: {dotted} = {value!r}: "
                                f"{path} is not a file")
    return path


def user_code(loaded: LoadedProfile) -> UserCode:
    """The profile's handler, model code and requirements as files to put in the image."""
    model = loaded.profile.model
    handler_object = model.handler.partition(":")[2] if model.handler else ""
    return UserCode(
        handler=_resolve(model.handler, loaded, "model.handler") if model.handler else None,
        handler_object=handler_object,
        model_code=(_resolve(model.model_code, loaded, "model.model_code")
                    if model.model_code else None),
        requirements=(_resolve(model.requirements, loaded, "model.requirements")
                      if model.requirements else None),
        warm_artifacts=_warm_artifacts(loaded),
        warm_threads=model.env.get("VXSERVE_TORCH_THREADS", ""),
    )


def _warm_artifacts(loaded: LoadedProfile) -> Path | None:
    """The local artifact folder to warm the torch.compile cache on at build time.

    Only for model.compile = "compile" on the torch servers (flask, torchserve), and only
    when the artifacts are a local folder: gs:// artifacts are not read at build time, and
    such an image compiles at its first start instead.
    """
    from vxdeploy.modelcheck import local_artifact_dir
    from vxdeploy.profile.model import CompileMode

    model = loaded.profile.model
    if model.compile is not CompileMode.COMPILE or model.container not in (
            ContainerKind.FLASK, ContainerKind.TORCHSERVE):
        return None
    folder = local_artifact_dir(model.artifact_uri)
    if folder is None:
        return None
    path = _resolve(str(folder), loaded, "model.artifact_uri")
    return path


def prepare_context(loaded: LoadedProfile, *, base_image: str | None = None,
                    containers_root: Path | None = None) -> tuple[BuildContext, str | None]:
    """The build context of a profile and the base image it builds FROM (None: unknown)."""
    profile = loaded.profile
    kind = profile.model.container
    if kind is ContainerKind.CUSTOM:
        raise InvalidInputError(
            f"{loaded.path}: model.container = 'custom' deploys model.image as it is, so there "
            "is nothing to build; use one of: flask, torchserve, tensorrt, triton")
    root = containers_root or Path(os.environ.get(CONTAINERS_DIR_ENV) or containers_dir())
    container_dir = root / kind.value
    dockerfile_path = container_dir / DOCKERFILE
    if not dockerfile_path.is_file():
        raise InvalidInputError(f"container {kind.value!r}: {dockerfile_path} does not exist")
    text = dockerfile_path.read_text(encoding="utf-8")
    base = base_image or profile.model.base_image or None
    build_args: dict[str, str] = {}
    if base:
        if not dockerfile_mod.takes_base_image(text):
            raise InvalidInputError(
                f"{dockerfile_path} declares no `ARG {dockerfile_mod.BASE_IMAGE_ARG}` before its "
                "FROM, so a base image cannot be passed to it")
        build_args[dockerfile_mod.BASE_IMAGE_ARG] = base
    context = assemble_context(container_dir, root / "common", user=user_code(loaded),
                               build_args=build_args)
    return context, base or dockerfile_mod.default_base_image(text)


def build_image(loaded: LoadedProfile, *, push: bool, tags: Sequence[str] = (),
                no_cache: bool = False, base_image: str | None = None,
                registry: str | None = None, network: str = DEFAULT_NETWORK,
                progress: Emit | None = None, output: Output | None = None,
                client: docker.DockerClient | None = None,
                containers_root: Path | None = None) -> BuildResult:
    """Build the profile's image (or reuse it) and, with `push`, push it and return its digest.

    `tags` are extra (mutable) tags applied and pushed next to the content tag. `no_cache`
    rebuilds even when the tag exists, without the engine's layer cache. `registry` (or
    $VXDEPLOY_REGISTRY) replaces the Artifact Registry host, e.g. a local test registry.
    Progress goes to `progress`, else to `output`'s stderr console, else nowhere.
    """
    if progress is None and output is not None:
        progress = console_emit(output)
    timings: dict[str, float] = {}
    started = time.monotonic()
    context, base = prepare_context(loaded, base_image=base_image,
                                    containers_root=containers_root)
    target = image_target(loaded.profile, registry)
    for extra in tags:
        _check_tag(extra)
    timings["context"] = time.monotonic() - started
    log = EventLog(progress)
    ref = f"{target.repository}:{context.tag}"
    client = client or connect()
    auth = auth_config(target) if push else None

    reused = False
    image_id: str | None = None
    digest: str | None = None
    if not no_cache:
        image_id = _local_image_id(client, ref)
        if push and not tags:
            digest = _registry_digest(client, ref, auth)
        reused = image_id is not None or digest is not None
        if reused:
            log.emit(f"reusing {ref} (same inputs, content hash {context.tag})", False)

    if not reused:
        _ensure_base(client, base, log)
        t0 = time.monotonic()
        image_id = _build(client, context, ref, no_cache=no_cache, network=network, log=log)
        timings["build"] = time.monotonic() - t0

    for extra in tags:
        client.api.tag(image_id or ref, target.repository, extra, force=True)

    pushed = False
    if push and (digest is None or tags):
        t0 = time.monotonic()
        digest = _push(client, target, context.tag, auth, log)
        for extra in tags:
            _push(client, target, extra, auth, log)
        timings["push"] = time.monotonic() - t0
        pushed = True
    elif digest is not None:
        pushed = True  # already in the registry under its content tag
    timings["total"] = time.monotonic() - started
    return BuildResult(image=ref, tag=context.tag, digest=digest, reused=reused,
                       repository=target.repository, image_id=image_id, pushed=pushed,
                       extra_tags=tuple(tags),
                       base_image=base, timings=timings)


def _check_tag(tag: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise InvalidInputError(f"--tag {tag!r}: a tag is 1-128 letters, digits, '_', '.', '-' "
                                "and does not start with '.' or '-'")


def _local_image_id(client: docker.DockerClient, ref: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        return str(client.images.get(ref).id)
    except ImageNotFound:
        return None


def _registry_digest(client: docker.DockerClient, ref: str,
                     auth: dict[str, str] | None) -> str | None:
    """The digest the registry holds for `ref`, or None when it has no such tag."""
    from docker.errors import APIError

    try:
        found = client.api.inspect_distribution(ref, auth_config=auth)
    except APIError:
        return None
    return (found.get("Descriptor") or {}).get("digest")


def _ensure_base(client: docker.DockerClient, base: str | None, log: EventLog) -> None:
    """Make sure the engine has the base image, pulling it if needed, or say clearly why not."""
    if not base or "$" in base:
        return
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(base)
        return
    except ImageNotFound:
        pass
    log.emit(f"pulling base image {base}", False)
    try:
        client.images.pull(base)
    except DockerException as exc:
        raise BaseImageUnavailableError(
            f"base image {base} is not in the engine and cannot be pulled: "
            f"{str(exc).strip()[:300]}",
            hint="check the engine's network and registry login (`docker pull` it), or build "
                 "FROM an image the engine has: --base-image IMAGE or model.base_image in the "
                 "profile (`docker images` lists them)") from None


def _build(client: docker.DockerClient, context: BuildContext, ref: str, *, no_cache: bool,
           network: str, log: EventLog) -> str:
    from docker.errors import APIError

    labels = {BUILD_HASH_LABEL: context.digest, CONTAINER_LABEL: context.container}
    with tempfile.TemporaryFile() as archive:
        context.write_tar(archive)
        archive.seek(0)
        try:
            for event in client.api.build(fileobj=archive, custom_context=True, tag=ref,
                                          rm=True, forcerm=True, nocache=no_cache, pull=False,
                                          buildargs=dict(context.build_args), labels=labels,
                                          network_mode=network, decode=True):
                log.feed(event)
                if log.error:
                    break
        except APIError as exc:
            log.error = str(exc.explanation or exc)
    log.flush()
    if log.error:
        _raise_build_error(log, ref)
    if log.image_id is None:
        log.image_id = _local_image_id(client, ref)
    if log.image_id is None:
        raise BuildFailedError(f"docker build of {ref} ended without an image",
                               hint=log.tail_text())
    return log.image_id


def _raise_build_error(log: EventLog, ref: str) -> None:
    error = log.error or "unknown error"
    at_from = log.step.split(":", 1)[-1].strip().upper().startswith("FROM") or not log.step
    if at_from and any(marker in error.lower() for marker in _PULL_FAILURES):
        raise BaseImageUnavailableError(
            f"the base image of {ref} cannot be pulled: {error}",
            hint="build FROM an image the engine has (--base-image IMAGE or model.base_image), "
                 "or fix the engine's network / registry login")
    where = f" at {log.step}" if log.step else ""
    raise BuildFailedError(f"docker build of {ref} failed{where}: {error}",
                           hint="last build output:\n" + log.tail_text())


def _push(client: docker.DockerClient, target: ImageTarget, tag: str,
          auth: dict[str, str] | None, log: EventLog) -> str:
    """Push one tag and return the manifest digest the registry reported."""
    from docker.errors import APIError

    log.digest = None
    log.error = None
    log.emit(f"pushing {target.repository}:{tag}", True)
    try:
        for event in client.api.push(target.repository, tag=tag, stream=True, decode=True,
                                     auth_config=auth):
            log.feed(event)
    except APIError as exc:
        log.error = str(exc.explanation or exc)
    if log.error:
        lowered = log.error.lower()
        hint = None
        if any(word in lowered for word in ("denied", "unauthorized", "403", "401")):
            hint = ("the registry refused the credentials: check `gcloud auth "
                    "application-default login` and roles/artifactregistry.writer on "
                    f"{target.repository.rsplit('/', 1)[0]}")
        elif "connection refused" in lowered or "no such host" in lowered:
            hint = f"is the registry {target.host} up and reachable from the engine?"
        raise PushFailedError(f"push of {target.repository}:{tag} failed: {log.error}", hint=hint)
    if not log.digest:
        raise PushFailedError(f"push of {target.repository}:{tag} reported no digest",
                              hint=log.tail_text())
    return log.digest
