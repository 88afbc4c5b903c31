"""UTM parameters on outbound links: configurable, preserving queries and fragments."""

from __future__ import annotations

from pathlib import Path

from lxml import html as lxml_html

from newsletter.config import Settings, UtmConfig, load_config
from newsletter.models import IssuePlan
from newsletter.personalization import TOKENS
from newsletter.rendering import add_utm, render_plan, utm_params
from newsletter.rendering.checks import html_links
from newsletter.rendering.text import text_urls
from tests.conftest import write_config
from tests.render_support import make_plans

P = {"utm_source": "almanac", "utm_medium": "email", "utm_campaign": "sunday-2026-11-22"}
Q = "utm_source=almanac&utm_medium=email&utm_campaign=sunday-2026-11-22"


def test_add_utm_to_plain_url() -> None:
    assert add_utm("https://e.com/a", P) == f"https://e.com/a?{Q}"


def test_add_utm_keeps_query_and_fragment() -> None:
    assert add_utm("https://e.com/a?x=1&y=a%20b#part", P) == f"https://e.com/a?x=1&y=a%20b&{Q}#part"
    assert add_utm("https://e.com/a#frag", P) == f"https://e.com/a?{Q}#frag"
    assert add_utm("https://e.com/a?", P) == f"https://e.com/a?{Q}"


def test_add_utm_never_overrides_existing_parameters() -> None:
    out = add_utm("https://e.com/a?utm_source=partner", P)
    assert out.count("utm_source") == 1 and "utm_source=partner" in out
    assert "utm_medium=email" in out


def test_add_utm_leaves_tokens_and_other_schemes_alone() -> None:
    for token in TOKENS:
        assert add_utm(token, P) == token
    assert add_utm("mailto:x@e.com", P) == "mailto:x@e.com"
    assert add_utm("https://e.com/a", {}) == "https://e.com/a"


def test_utm_params_from_config() -> None:
    cfg, (sunday, _) = _cfg_and_plans()
    assert utm_params(cfg.rendering.utm, sunday) == P
    custom = UtmConfig(source="news", medium="mail", campaign="{edition}/{id}/{unknown}")
    params = utm_params(custom, sunday)
    assert params["utm_campaign"] == "sunday/2026-11-22-sunday/{unknown}"
    assert utm_params(UtmConfig(enabled=False), sunday) == {}


def _cfg_and_plans(**sections: dict[str, object]) -> tuple[Settings, tuple[IssuePlan, IssuePlan]]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="render-links-"))
    cfg = load_config(write_config(folder, **sections), env={})
    return cfg, make_plans(cfg)


def test_rendered_links_carry_utm_except_tokens_and_own_pages() -> None:
    cfg, (sunday, _) = _cfg_and_plans()
    rendered = render_plan(cfg, sunday)
    hrefs = html_links(lxml_html.document_fromstring(rendered.html))
    content = {s.item.url for s in sunday.stories} | {g.url for g in sunday.guides}
    tagged = {h for h in hrefs if "utm_source=almanac" in h}
    assert {h.split("?utm_")[0] for h in tagged} >= content
    for h in hrefs - tagged:
        assert h in TOKENS or h.startswith((cfg.web.public_url, cfg.site.url))
    assert text_urls(rendered.text) == hrefs


def test_utm_can_be_disabled() -> None:
    cfg, (sunday, _) = _cfg_and_plans(rendering={"utm": {"enabled": False}})
    rendered = render_plan(cfg, sunday)
    assert "utm_" not in rendered.html and "utm_" not in rendered.text
