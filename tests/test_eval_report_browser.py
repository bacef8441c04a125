"""The demo's report opened in headless Chromium: the tables and images render; and the same
run gives the same report numbers twice."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html import escape

import pytest

from pipeline.demo import run_demo


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        reason = "chromium is not on PATH (apt-get install chromium)"
        if os.environ.get("WEBTEXT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; WEBTEXT_REQUIRE_BROWSER=1 makes this an error")
        pytest.skip(reason)
    return exe


def _browser(exe: str, profile, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _check_corpus_card(dom: str, card: dict) -> None:
    """The corpus card comes first and renders its numbers: documents and tokens per split,
    the funnel's counts right-aligned, its readings under the figures, the domain comparison
    said in words."""
    assert card["id"] == "corpus_card" and card["status"] == "ok"
    html = dom.split('<section id="corpus_card">')[1].split("</section>")[0]
    assert dom.index('id="corpus_card"') < dom.index('id="overlap_table"')
    n = card["numbers"]
    assert f'<td>all</td><td class="num">{n["documents"]:,}</td>' in html
    assert f'<td class="num">{n["tokens"]:,}</td>' in html
    for row in n["funnel"]:
        assert (
            f'<td>{row["stage"]}</td><td>{row["reads"]}</td><td class="num">{row["in"]:,}' in html
        )
    assert html.count('src="data:image/png;base64,iVBOR') == len(card["figures"]) >= 4
    for fig in card["figures"]:  # each reading right under its figure, in the DOM's escaping
        assert f'<p class="reading">{escape(fig["reading"], quote=False)}</p>' in html
    assert not re.search(r"\bnan\b", html, re.IGNORECASE)


@pytest.mark.slow
def test_demo_report_renders_in_chromium(tmp_path, capsys):
    exe = _chromium()
    from eval.report import write_report
    from eval.report_sections import ReportInputs
    from pipeline.demo.eval_report import eval_report_step, reference_domains

    root = tmp_path / "demo"
    run_demo(str(root))
    eval_report_step(root, [])
    assert f"[demo] report: {root / 'report' / 'index.html'}" in capsys.readouterr().out
    report = root / "report"
    data = json.loads((report / "report.json").read_text())
    assert data["not_built"] == {}
    # regenerated from the same run: the same numbers
    inputs = ReportInputs(root / "runs" / "demo", root / "corpus", root / "overlap", root / "eval",
                          num_samples=8, sample_tokens=48,
                          reference_domains=reference_domains())  # fmt: skip
    write_report(inputs, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert [s["numbers"] for s in again["sections"]] == [s["numbers"] for s in data["sections"]]
    assert again["sections"][-1]["tables"] == data["sections"][-1]["tables"]  # same samples

    result = _browser(exe, tmp_path / "profile", "--dump-dom", (report / "index.html").as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    figures = sum(len(sec["figures"]) for sec in data["sections"])
    assert dom.count("<section") == 6 and dom.count("<table") >= 9
    assert figures >= 9 and dom.count('src="data:image/png;base64,iVBOR') == figures
    assert "WebText train" in dom and "contaminated" in dom and "excluding overlapping" in dom
    # the header names the inputs; figures have descriptive alt texts; text cells left-aligned
    header = dom.split("<header>")[1].split("</header>")[0]
    assert all(str(root / d) in header for d in ("runs/demo", "corpus", "overlap", "eval"))
    assert "torch" in header and "UTC" in header
    assert dom.count('alt="Bar chart') == 4 and 'alt="Strip plot' in dom and '.png"' not in dom
    assert re.search(r'<td class="num">[\d.]+ /word</td>', dom) and "<td>(0, 15%]</td>" in dom
    _check_corpus_card(dom, data["sections"][0])

    shot = tmp_path / "shot.png"
    result = _browser(exe, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1000,3000",
                      (report / "index.html").as_uri())  # fmt: skip
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.std() > 0.05  # not a blank page
