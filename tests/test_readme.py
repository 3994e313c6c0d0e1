"""The README's Python quick start runs as written, and its local links and pictures exist."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_readme_quick_start_runs(tmp_path, monkeypatch):
    blocks = python_blocks(README)
    assert blocks, "the README has no ```python block"
    code = "\n".join(blocks)
    assert "subset=" in code, "the quick start must train on a small subset to stay fast"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), namespace)  # the README's own code
    model, x = namespace["model"], namespace["x"]
    assert (tmp_path / "runs" / "quick" / "config.json").is_file()
    assert (tmp_path / "runs" / "quick" / "model.safetensors").is_file()
    assert namespace["images"].shape == (16, 1, 28, 28)
    assert namespace["recon"].shape == x.shape
    assert namespace["path"].shape == (10, 1, 28, 28)
    assert namespace["grid"].shape == (2, 9, 1, 28, 28)
    assert namespace["flags"].shape == (len(x),) and namespace["flags"].dtype == torch.bool
    assert model.calibration is not None
    # in a notebook: a DataFrame and the scikit-learn estimators
    assert namespace["table_model"].schema.kind == "table" and namespace["codes"].shape == (569, 2)
    assert set(namespace["outlier"]) <= {0, 1} and namespace["filled"].shape == (569, 30)
    assert not np.isnan(namespace["filled"]).any()


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"^```.*?^```$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_local_links_exist(page):
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)  # not code blocks
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = page.parent / file if file else page
        if not path.exists():
            missing.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            missing.append(target)
    assert not missing, f"{page.name} links to missing files or headings: {missing}"
