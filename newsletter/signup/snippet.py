"""The embeddable signup form for guide pages (``newsletter signup snippet`` prints it).

It posts to ``/subscribe`` without the page's signed timestamp; the app answers such a post
with the signup page, filled in, for the reader to press Subscribe once more (the timing
trap needs a page we served). It carries the honeypot like the page does.
"""

from __future__ import annotations

from html import escape

from newsletter.config import Settings


def snippet_html(cfg: Settings, source: str = "guide") -> str:
    """Self-contained HTML (inline styles, no script) for the "Stay current" box."""
    action = escape(f"{str(cfg.web.public_url).rstrip('/')}/subscribe", quote=True)
    site = escape(cfg.site.name)
    midweek = escape(cfg.editions["midweek"].title)
    sunday = escape(cfg.editions["sunday"].title)
    return f"""<form class="almanac-signup" method="post" action="{action}" style="border:1px solid #d0ccc0;border-radius:10px;padding:16px;max-width:520px;font:16px/1.5 system-ui,sans-serif">
  <p style="margin:0 0 8px;font-weight:700">Stay current</p>
  <p style="margin:0 0 12px">{site} pairs the week's AI news with guides like this one, {midweek} &amp; {sunday}.</p>
  <label for="almanac-signup-email" style="display:block;font-weight:600">Email address</label>
  <input id="almanac-signup-email" name="email" type="email" required autocomplete="email" style="width:100%;padding:8px;margin:4px 0 12px;font:inherit">
  <fieldset style="border:0;padding:0;margin:0 0 12px">
    <legend style="font-weight:600">Editions</legend>
    <label><input type="checkbox" name="midweek" value="on" checked> {midweek}</label>
    <label style="margin-left:16px"><input type="checkbox" name="sunday" value="on" checked> {sunday}</label>
  </fieldset>
  <div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden">
    <label for="almanac-signup-website">Leave this empty</label>
    <input id="almanac-signup-website" name="website" type="text" tabindex="-1" autocomplete="off">
  </div>
  <input type="hidden" name="source" value="{escape(source, quote=True)}">
  <button type="submit" style="font:inherit;font-weight:600;background:#1f5fbf;color:#fff;border:0;border-radius:8px;padding:10px 18px;cursor:pointer">Subscribe</button>
</form>
"""
