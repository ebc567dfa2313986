//! Markdown that people write (notes, comments): rendered, sanitized, and with no images fetched.
//!
//! An image in a note would load on a mentor's page and tell a third party
//! when it was read (a tracking pixel). So `![alt](url)` becomes a plain link
//! to the image, and raw `<img>` tags are removed; the CSP's `img-src` allows
//! only this instance.

use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, LinkType, Parser, Tag, TagEnd, html};

use crate::content::render::markdown_options;

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .rm_tags(["img"])
        .add_tags(["input"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
});

/// Renders a note or comment to safe HTML.
pub fn user_markdown_to_html(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, markdown_options()).flat_map(|event| match event {
        Event::Start(Tag::Image {
            dest_url, title, id, ..
        }) => vec![
            Event::Start(Tag::Link {
                link_type: LinkType::Inline,
                dest_url,
                title,
                id,
            }),
            Event::Text(CowStr::Borrowed("Image: ")),
        ],
        Event::End(TagEnd::Image) => vec![Event::End(TagEnd::Link)],
        other => vec![other],
    });
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, events);
    SANITIZER.clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::user_markdown_to_html;

    #[test]
    fn images_become_links_and_raw_img_tags_vanish() {
        let html = user_markdown_to_html(
            "See ![my diagram](https://tracker.example/pixel.png) and <img src=\"https://tracker.example/p.gif\" alt=\"x\">.",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains(r#"<a href="https://tracker.example/pixel.png" rel="noopener noreferrer nofollow">Image: my diagram</a>"#),
            "{html}"
        );
    }

    #[test]
    fn the_rest_of_markdown_survives_and_scripts_do_not() {
        let html = user_markdown_to_html("**bold** [link](https://example.org)\n\n<script>alert(1)</script>");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains(r#"href="https://example.org""#), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
}
