"""scripts/install.sh, as a dry run: where torch comes from (PyPI's CPU index where it answers, else the default index,
or the CUDA build when asked), the pins it applies, and its refusals."""

import functools
import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))


def install(*options: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DSE_TORCH"} | environment
    return subprocess.run(["bash", "scripts/install.sh", "--dry-run", "--no-apt", *options], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cpu_index(tmp_path):
    """A local stand-in for PyTorch's CPU wheel index: it answers for torch/."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<html></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def pip_commands(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if " -m pip install " in line]


def test_torch_comes_first_from_the_cpu_index_where_it_answers(cpu_index):
    torch, project, finn = pip_commands(install(DSE_TORCH_INDEX=cpu_index))
    assert torch.endswith(f"--index-url {cpu_index} {TORCH_PIN}")
    assert project.endswith("-c constraints.txt -e .[test]") and finn.endswith("--no-deps -c constraints.txt finn-plus")


def test_without_the_cpu_index_torch_comes_from_the_default_index_with_a_note():
    result = install(DSE_TORCH_INDEX="http://127.0.0.1:9")  # nothing listens on the discard port
    torch = pip_commands(result)[0]
    assert torch.endswith(f"--disable-pip-version-check {TORCH_PIN}") and "--index-url" not in torch
    assert "PyTorch's CPU index (http://127.0.0.1:9) does not answer" in result.stderr


@pytest.mark.parametrize("ask", [("--cuda",), ()])
def test_the_cuda_build_when_asked(cpu_index, ask):
    result = install(*ask, DSE_TORCH_INDEX=cpu_index, **({} if ask else {"DSE_TORCH": "cuda"}))
    torch = pip_commands(result)[0]
    assert torch.endswith(TORCH_PIN) and "--index-url" not in torch


@pytest.mark.parametrize(("options", "environment", "message"), [
    (("--gpu",), {}, "install.sh: unknown option --gpu; use --cuda, --no-apt or --dry-run"),
    ((), {"DSE_TORCH": "rocm"}, "install.sh: DSE_TORCH=rocm is not allowed; use cpu or cuda"),
])
def test_bad_options_are_one_line_and_exit_2(options, environment, message):
    result = install(*options, **environment)
    assert result.returncode == 2 and result.stderr.strip() == message and result.stdout == ""


def test_the_pins_are_exact_and_the_project_gives_ranges():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert TORCH_PIN == "torch==2.13.0"
    assert not [requirement for requirement in project["dependencies"] if "==" in requirement]
    assert set(project["optional-dependencies"]) == {"cluster", "post-synth", "dashboard", "test"}
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
