//! Markdown to HTML, sanitized so that nothing from a content file can run script in a page.

use std::sync::LazyLock;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// The markdown extensions content files may use.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Bump when rendering changes, so the next load re-renders unchanged files.
pub const RENDER_VERSION: &str = "render-v3";

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

/// Renders a skill body without its task-list items: those become sub-steps,
/// shown per learner as a checklist under the text.
pub fn skill_body_to_html(markdown: &str) -> String {
    let events: Vec<Event<'_>> = Parser::new_ext(markdown, markdown_options()).collect();
    let mut kept: Vec<Event<'_>> = Vec::with_capacity(events.len());
    let mut index = 0;
    while index < events.len() {
        if matches!(events[index], Event::Start(Tag::Item)) && is_task_item(&events[index + 1..]) {
            // Skip to the matching end of this item, nested items included.
            let mut depth = 0;
            while index < events.len() {
                match events[index] {
                    Event::Start(Tag::Item) => depth += 1,
                    Event::End(TagEnd::Item) => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
            index += 1;
            continue;
        }
        kept.push(events[index].clone());
        index += 1;
    }
    // A list whose items were all tasks is dropped whole.
    let mut cleaned: Vec<Event<'_>> = Vec::with_capacity(kept.len());
    for event in kept {
        if matches!(event, Event::End(TagEnd::List(_)))
            && matches!(cleaned.last(), Some(Event::Start(Tag::List(_))))
        {
            cleaned.pop();
            continue;
        }
        cleaned.push(event);
    }
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, cleaned.into_iter());
    SANITIZER.clean(&raw).to_string()
}

/// Does the item whose events follow start with a task-list marker?
fn is_task_item(rest: &[Event<'_>]) -> bool {
    matches!(
        rest,
        [Event::TaskListMarker(_), ..] | [Event::Start(Tag::Paragraph), Event::TaskListMarker(_), ..]
    )
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
    fn skill_bodies_leave_task_items_to_the_checklist() {
        let html = skill_body_to_html("Intro.\n\n- [ ] first\n- [x] second\n\n- plain\n\nAfter.\n");
        assert!(!html.contains("first"), "{html}");
        assert!(!html.contains("checkbox"), "{html}");
        assert!(html.contains("<ul>") && html.contains("plain"), "{html}");
        assert!(html.contains("After."), "{html}");
        let mixed = skill_body_to_html("- keep\n- [ ] drop\n");
        assert!(mixed.contains("keep") && !mixed.contains("drop"), "{mixed}");
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
