"""Templates: every value is escaped unless it is explicitly Markup."""

from __future__ import annotations

from string import Template

import pytest

from webui.render import Markup, escape, load_templates, render

HOSTILE = """<script>alert("x")</script><img src=x onerror='alert(1)'> & "quoted\""""


def test_escape_covers_text_and_quoted_attributes() -> None:
    escaped = escape(HOSTILE)
    for raw in "<>\"'":
        assert raw not in escaped
    assert "&lt;script&gt;" in escaped
    assert "&amp;" in escaped
    assert escape(None) == ""
    assert escape(Markup("<b>ok</b>")) == "<b>ok</b>"


def test_render_escapes_values_in_content_and_attributes() -> None:
    template = Template('<p title="$title">$title</p>$extra')
    html = render(template, {"title": HOSTILE, "extra": Markup("<hr>")})
    assert "<script>" not in html
    assert "onerror='" not in html
    assert html.endswith("<hr>")
    assert html.count("<p ") == 1


def test_a_missing_value_is_an_error_not_a_hole() -> None:
    with pytest.raises(KeyError):
        render(Template("$title $missing"), {"title": "x"})


def test_every_page_template_renders_with_the_values_the_pages_give() -> None:
    templates = load_templates()
    assert {"layout", "library", "watch", "not_found", "message"} <= set(templates)
    render(
        templates["layout"],
        {
            "title": "t",
            "page_class": "c",
            "icon_url": "/i",
            "css_url": "/c",
            "scripts": Markup(""),
            "body": Markup(""),
        },
    )
    render(templates["library"], {"max_upload": "10 GiB"})
    render(templates["watch"], {"video_id": "x", "title": "t", "hlsjs_hint": ""})
    render(templates["not_found"], {"video_id": "x"})
    render(templates["message"], {"heading": "h", "message": "m"})
