"""report.html of a run folder: every section, self-contained, escaped, and rendered by a
real browser (Debian's chromium, headless) without errors."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

HOSTILE_FILE = "<img src=x onerror=alert(1)>.toml"
HOSTILE_ARM = '<b onmouseover="alert(2)">evil</b>'
SECTIONS = ("Protocol", "Provenance", "Participant flow", "Baseline characteristics",
            "Endpoints", "Figures", "Over 6 simulated trials")
CHROMIUM = Path("/usr/bin/chromium")


class _Page(HTMLParser):
    """Headings, tags and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._in, self._text = tag, []

    def handle_endtag(self, tag):
        if tag == self._in:
            self.headings.append("".join(self._text).strip())
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One small run (6 replicates) of the default protocol saved under a hostile name."""
    root = tmp_path_factory.mktemp("report")
    hostile = root / HOSTILE_FILE
    shutil.copyfile(ROOT / "protocols" / "ld-il2-vs-placebo.toml", hostile)
    res = run_cli("run", str(hostile), "--n", "24", "--replicates", "6", "--json",
                  "--out", str(root / "out"))
    assert res.returncode == 0, res.stderr
    return Path(json.loads(res.stdout)["run_dir"])


def _check_self_contained(text: str) -> _Page:
    page = _parse(text)
    assert not re.search(r"https?://", text), "the page names an external URL"
    assert "url(" not in text and "@import" not in text
    tags = {t for t, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}, tags
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for key in ("src", "href"):
            if key in attrs:
                assert tag == "img" and attrs[key].startswith("data:image/png;base64,"), attrs
    return page


def test_report_has_every_section_and_embedded_images(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    page = _check_self_contained(text)
    for section in SECTIONS:
        assert any(h.startswith(section) for h in page.headings), (section, page.headings)
    imgs = [a["src"] for t, a in page.tags if t == "img"]
    assert len(imgs) == 4          # response, time courses, IL-2, effect distribution
    for src in imgs:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for label in ("one simulated trial (replicate 0)", "averaged over 6 simulated trials",
                  "multiplicity", "Newcombe", "Wilson", "git commit", "protocol digest",
                  "screened"):
        assert label in text, label
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"trialsim_version", "git_commit", "protocol_digest", "seed", "started_utc",
            "run_seconds", "machine"} <= summary["provenance"].keys()
    reps = pd.read_csv(run_dir / "replicates.csv")
    assert sorted(reps["replicate"]) == list(range(6))


def test_hostile_file_name_is_escaped(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.toml" in text


def test_report_command_rebuilds_and_escapes_arm_names(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    for name in ("summary.json", "patients.csv", "visits.csv", "replicates.csv"):
        path = copy / name
        path.write_text(path.read_text().replace("il2-1miu", HOSTILE_ARM.replace('"', "'")))
    res = run_cli("report", str(copy))
    assert res.returncode == 0, res.stderr
    text = (copy / "report.html").read_text(encoding="utf-8")
    _check_self_contained(text)
    assert "<b onmouseover" not in text
    assert "&lt;b onmouseover=&#x27;alert(2)&#x27;&gt;evil&lt;/b&gt;" in text


def test_report_command_on_a_non_run_folder_is_one_line(tmp_path: Path) -> None:
    res = run_cli("report", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "not a run folder" in res.stderr


# Installed by .ci/run; the test is skipped only where the browser is absent.
CHECKER = """<script>
window.__errors = [];
console.error = (...a) => window.__errors.push(a.join(' '));
console.warn = (...a) => window.__errors.push(a.join(' '));
window.addEventListener('error', e => window.__errors.push(
  'error: ' + (e.message || (e.target && e.target.src || '').slice(0, 40))), true);
window.addEventListener('load', () => {
  const bad = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0));
  document.documentElement.setAttribute('data-images', String(document.images.length));
  document.documentElement.setAttribute('data-broken', String(bad.length));
  document.documentElement.setAttribute('data-errors', JSON.stringify(window.__errors));
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", *args], capture_output=True, text=True, timeout=120,
            env={**os.environ, "HOME": profile})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    """Every image loads, nothing is logged to the console, and the first screen is kept as
    ``first-screen.png`` in this test's output folder."""
    shot = tmp_path / "first-screen.png"
    res = _chromium("--window-size=1280,900", f"--screenshot={shot}",
                    (run_dir / "report.html").as_uri())
    assert shot.is_file() and shot.read_bytes()[:4] == b"\x89PNG", res.stderr[-2000:]
    assert "CONSOLE" not in res.stderr, res.stderr
    probe = tmp_path / "probe.html"
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    probe.write_text(text.replace("<head>", "<head>" + CHECKER, 1), encoding="utf-8")
    res = _chromium("--dump-dom", probe.as_uri())
    root = re.search(r"<html[^>]*>", res.stdout)
    assert root, res.stderr[-2000:]
    attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', root.group(0)))
    assert attrs["data-images"] == "4" and attrs["data-broken"] == "0", attrs
    assert json.loads(attrs["data-errors"].replace("&quot;", '"')) == []
    assert "CONSOLE" not in res.stderr, res.stderr
    print(f"first screen: {shot}")


def test_power_and_compare_folders_have_reports(tmp_path: Path) -> None:
    res = run_cli("power", "protocols/ld-il2-vs-placebo.toml", "--n", "40,80",
                  "--replicates", "6", "--json", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    text = (Path(json.loads(res.stdout)["run_dir"]) / "report.html").read_text()
    page = _check_self_contained(text)
    assert any(h.startswith("Power curve") for h in page.headings)
    assert "Smallest n for" in text and sum(t == "img" for t, _ in page.tags) == 1
    res = run_cli("compare", "protocols/dose-schedules.toml", "--replicates", "3", "--json",
                  "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    text = (Path(doc["run_dir"]) / "report.html").read_text()
    page = _check_self_contained(text)
    assert any(h.startswith("Ranked designs") for h in page.headings)
    for d in doc["designs"]:
        assert f"<td>{d['name']}</td>" in text


def test_calibrate_report_is_a_forest_plot_and_escapes(tmp_path: Path) -> None:
    from trialsim.calibration import TargetCheck
    from trialsim.outputs import write_calibrate

    checks = [TargetCheck("a.rate", "a rate", 0.4, (0.3, 0.5), 0.42, True, 0.6),
              TargetCheck(HOSTILE_ARM, "<i>x</i>", 3.0, (2.0, 4.0), 5.0, False),
              TargetCheck("dir", "direction", "up", None, "down", False)]
    run_dir = write_calibrate(tmp_path, checks, replicates=7)
    assert run_dir.parent == tmp_path / "calibrate"
    assert {"calibrate.json", "calibrate.csv", "calibrate.png", "report.html"} <= {
        p.name for p in run_dir.iterdir()}
    text = (run_dir / "report.html").read_text()
    page = _check_self_contained(text)
    assert "1 of 3 published targets" in page.headings[0]
    assert "<b onmouseover" not in text and "<i>x</i>" not in text
    assert len(pd.read_csv(run_dir / "calibrate.csv")) == 3
