//! Markdown to HTML, sanitized so that nothing from a content file can run script in a page.

use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

/// The markdown extensions content files may use.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Bump when rendering changes, so the next load re-renders unchanged files.
pub const RENDER_VERSION: &str = "render-v1";

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    // Task-list checkboxes are rendered read-only; everything else an
    // `<input>` could carry (names, values, handlers) is stripped.
    builder
        .add_tags(["input"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .link_rel(Some("noopener noreferrer"));
    builder
});

/// Renders markdown and sanitizes the HTML: raw `<script>`, event-handler
/// attributes and `javascript:` URLs never survive.
pub fn markdown_to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, markdown_options());
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, parser);
    SANITIZER.clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tables_strikethrough_and_task_lists() {
        let html = markdown_to_html("| a |\n|---|\n| b |\n\n~~old~~\n\n- [x] done\n- [ ] todo\n");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(html.contains(r#"type="checkbox""#), "{html}");
        assert!(html.contains("checked"), "{html}");
    }

    #[test]
    fn strips_script_handlers_and_javascript_urls() {
        let html = markdown_to_html(
            "<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3))\n\n<a href=\"javascript:alert(4)\">x</a>\n",
        );
        let lower = html.to_lowercase();
        assert!(!lower.contains("<script"), "{html}");
        assert!(!lower.contains("onerror"), "{html}");
        assert!(!lower.contains("javascript:"), "{html}");
        assert!(!lower.contains("alert(1)"), "{html}");
    }

    #[test]
    fn external_links_get_noopener() {
        let html = markdown_to_html("[MDN](https://developer.mozilla.org/)");
        assert!(
            html.contains(r#"href="https://developer.mozilla.org/""#),
            "{html}"
        );
        assert!(html.contains("noopener"), "{html}");
    }
}
