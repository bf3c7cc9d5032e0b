"""Fixtures for the docker tier: a real engine and the locally built test images.

``docker_engine`` (session) fails with the setup hint when no engine answers or
the images from scripts/test-images.sh are missing. ``aistack_docker`` runs the
real CLI as a subprocess with AISTACK_IMAGE_CPU pointing at the test image, and
on teardown runs ``aistack down`` and removes any container the test left with
aistack's labels on the test's port (other containers on the engine are not touched).
"""

from __future__ import annotations

import os

import pytest

from cli_runner import Cli
from docker_helpers import BASE_IMAGE, SERVER_IMAGE
HINT = "run scripts/test-setup.sh first (it starts dockerd and builds the test images with scripts/test-images.sh)"


@pytest.fixture(scope="session")
def docker_engine():
    try:
        import docker
    except ImportError:
        pytest.fail(f"the docker Python package is missing: {HINT}")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}): {HINT}")
    for image in (SERVER_IMAGE, BASE_IMAGE):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"image {image} is missing: {HINT}")
    return client


def _remove_ours(client, port: int) -> None:
    """Remove what a test left on its own port (other containers are not touched)."""
    import docker

    for ctr in client.containers.list(all=True, filters={"label": ["io.aistack.managed=true", f"io.aistack.port={port}"]}):
        try:
            ctr.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def aistack_docker(docker_engine, llama_server_bin, smollm2_gguf, free_port, _guard_home):
    """The CLI, set up for the docker tier; tests deploy on ``free_port`` (the same value they get)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
    env["AISTACK_HOME"] = str(_guard_home)
    env["AISTACK_LLAMA_SERVER"] = str(llama_server_bin)
    env["AISTACK_IMAGE_CPU"] = SERVER_IMAGE
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cli = Cli(env)
    yield cli
    cli("down", "--wait", "30", timeout=120)
    _remove_ours(docker_engine, free_port)
