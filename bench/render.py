"""Render benchmark: the whole render step for the sample Sunday issue, and its rivals.

Side by side in one run, on the same MJML source: mjml-python (MRML) against the official
MJML (npm ``mjml`` 5, in-process in node and as its CLI), and premailer against css-inline.
Writes bench/results/render.md and render.json. Target: the whole step under 50 ms per issue.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_DIR = HERE / ".node"
RESULTS = HERE / "results"
RUNS = 30
CLI_RUNS = 5
TARGET_MS = 50.0
SLOT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def median_ms(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _ensure_node_mjml() -> Path | None:
    """The node_modules folder holding npm ``mjml`` 5, installed on first use; None without npm."""
    modules = NODE_DIR / "node_modules"
    if (modules / "mjml" / "package.json").is_file():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    proc = subprocess.run(
        [npm, "install", "--prefix", str(NODE_DIR), "mjml@5", "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        print(f"bench render: npm install mjml@5 failed: {proc.stderr.strip()[-300:]}")
        return None
    return modules


def _node_inprocess(modules: Path, mjml_file: Path, runs: int) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(HERE / "render_mjml.js"), str(modules), str(mjml_file), str(runs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _node_cli(modules: Path, mjml_file: Path, runs: int) -> float:
    cli = modules / ".bin" / "mjml"
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [str(cli), str(mjml_file), "-s"], capture_output=True, check=True, timeout=120
        )
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure() -> dict[str, Any]:
    """Run every measurement and return the numbers."""
    import css_inline

    from newsletter.config import load_config
    from newsletter.rendering import build_view, render_mjml, render_plan, render_text
    from newsletter.rendering.environment import template_env
    from newsletter.rendering.inline import inline_css
    from newsletter.rendering.mjml import mjml_to_html
    from newsletter.rendering.pipeline import inline_stylesheet
    from newsletter.rendering.sample import sample_plan
    from newsletter.sources import load_content

    cfg = load_config(ROOT / "config.yaml", env={})
    catalog = load_content(cfg).catalog
    plan = sample_plan(catalog, "sunday", SLOT)
    env = template_env()
    view = build_view(cfg, plan)
    source = render_mjml(view, env)
    css = inline_stylesheet(env)
    raw = mjml_to_html(source)
    block = f'<style type="text/css">{css}</style>'
    raw_without_block = raw.replace(block, "", 1)
    inliner = css_inline.CSSInliner(
        inline_style_tags=False,
        keep_style_tags=True,
        load_remote_stylesheets=False,
        extra_css=css,
    )

    def whole_step() -> None:
        # Jinja → MJML → HTML → premailer, and the text part: what one email costs.
        html = inline_css(mjml_to_html(render_mjml(view, env)), css)
        render_text(view, env)
        assert html

    rendered = render_plan(cfg, plan)
    out: dict[str, Any] = {
        "issue": plan.id,
        "stories": len(plan.stories),
        "guide_cards": len(plan.guides),
        "runs": RUNS,
        "email_html_bytes": rendered.size,
        "mjml_source_bytes": len(source.encode()),
        "checks": {c.name: c.status for c in rendered.checks},
        "ms": {
            "render_step": median_ms(whole_step),
            "render_plan_all_outputs": median_ms(lambda: render_plan(cfg, plan)),
            "jinja_mjml": median_ms(lambda: render_mjml(view, env)),
            "jinja_text": median_ms(lambda: render_text(view, env)),
            "mrml": median_ms(lambda: mjml_to_html(source)),
            "premailer": median_ms(lambda: inline_css(raw, css)),
            "css_inline": median_ms(lambda: inliner.inline(raw_without_block)),
        },
    }
    modules = _ensure_node_mjml()
    if modules is not None:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
            mjml_file = Path(tmp) / "sunday.mjml"
            mjml_file.write_text(source, encoding="utf-8")
            node = _node_inprocess(modules, mjml_file, RUNS)
            out["ms"]["node_mjml_inprocess"] = node["median_ms"]
            out["node_mjml_validation_errors"] = node["errors"]
            out["ms"]["node_mjml_cli"] = _node_cli(modules, mjml_file, CLI_RUNS)
    ms = out["ms"]
    out["ratios"] = {
        "node_inprocess_over_mrml": _ratio(ms.get("node_mjml_inprocess"), ms["mrml"]),
        "node_cli_over_mrml": _ratio(ms.get("node_mjml_cli"), ms["mrml"]),
        "premailer_over_css_inline": _ratio(ms["premailer"], ms["css_inline"]),
    }
    out["target_ms"] = TARGET_MS
    out["target_met"] = ms["render_step"] < TARGET_MS
    return out


def _ratio(a: float | None, b: float) -> float | None:
    return round(a / b, 1) if a is not None and b > 0 else None


def _markdown(r: dict[str, Any]) -> str:
    ms = r["ms"]
    labels = {
        "render_step": "whole render step (Jinja + MRML + premailer + text)",
        "render_plan_all_outputs": "render_plan (also web.html and checks)",
        "jinja_mjml": "Jinja2 → MJML source",
        "jinja_text": "Jinja2 → text part (wrapped)",
        "mrml": "MJML → HTML, mjml-python (MRML)",
        "node_mjml_inprocess": "MJML → HTML, npm mjml 5 in node (in-process)",
        "node_mjml_cli": f"MJML → HTML, npm mjml 5 CLI (median of {CLI_RUNS})",
        "premailer": "CSS inlining, premailer",
        "css_inline": "CSS inlining, css-inline",
    }
    lines = [
        "# Render benchmark",
        "",
        f"Sample Sunday issue {r['issue']}: {r['stories']} stories, {r['guide_cards']} guide cards; "
        f"email.html {r['email_html_bytes'] / 1024:.1f} KB; median of {r['runs']} runs.",
        "",
        "| step | ms |",
        "|---|---:|",
    ]
    lines += [f"| {labels[k]} | {v:.2f} |" for k, v in ms.items()]
    ratios = r["ratios"]
    lines += [
        "",
        "| ratio | × |",
        "|---|---:|",
        f"| npm mjml in node / MRML | {ratios['node_inprocess_over_mrml']} |",
        f"| npm mjml CLI / MRML | {ratios['node_cli_over_mrml']} |",
        f"| premailer / css-inline | {ratios['premailer_over_css_inline']} |",
        "",
        f"Target: whole render step under {r['target_ms']:.0f} ms per issue: "
        f"**{'met' if r['target_met'] else 'NOT met'}** ({ms['render_step']:.1f} ms).",
    ]
    if "node_mjml_validation_errors" in r:
        lines.append(
            f"Official MJML validation of the same source: {r['node_mjml_validation_errors']} errors."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, print the table, write bench/results/render.md and render.json."""
    result = measure()
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = _markdown(result)
    (RESULTS / "render.md").write_text(md, encoding="utf-8")
    (RESULTS / "render.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
