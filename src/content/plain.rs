//! A skill's text without markdown or HTML, for search snippets and the search index.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use super::render::markdown_options;

/// Put after a `<` that would start a tag in the text. PostgreSQL's text-search
/// parser reads `<script>` in plain text as a tag and skips everything after it,
/// so a lesson that mentions `<script>` would lose the rest of its words; this
/// control character keeps the `<` from starting a tag. It is ASCII on purpose: in
/// a database with the C locale every non-ASCII character counts as a letter, so
/// an invisible Unicode joiner would glue itself to the next word. Snippets drop it.
pub const TAG_BREAK: char = '\u{1f}';

/// Elements whose content is not text a reader sees.
const HIDDEN_ELEMENTS: [&str; 4] = ["script", "style", "template", "iframe"];

/// The text a reader sees in `markdown`: emphasis, code marks, link targets,
/// images' URLs and HTML tags are dropped; link text, image alt text and the
/// contents of code are kept. Blocks (paragraphs, items, headings, code) end
/// with a line break; runs of spaces inside a block become one space.
pub fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut html = HtmlText::default();
    for event in Parser::new_ext(markdown, markdown_options()) {
        match event {
            Event::Text(text) | Event::Code(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                html.visible(&mut out, &text);
            }
            Event::Html(raw) => html.strip(&mut out, &raw, true),
            Event::InlineHtml(raw) => html.strip(&mut out, &raw, false),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak | Event::Rule => out.push('\n'),
            Event::Start(Tag::Item | Tag::TableRow | Tag::TableHead) => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::HtmlBlock
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::FootnoteDefinition
                | TagEnd::DefinitionListTitle
                | TagEnd::DefinitionListDefinition,
            ) => out.push('\n'),
            _ => {}
        }
    }
    tidy(&out)
}

/// Tags split over several HTML events (an HTML block arrives line by line).
#[derive(Default)]
struct HtmlText {
    in_tag: bool,
    tag: String,
    /// Inside `<script>` and the like: text is skipped until this closing tag.
    hidden: Option<&'static str>,
}

impl HtmlText {
    fn visible(&self, out: &mut String, text: &str) {
        if self.hidden.is_none() {
            out.push_str(text);
        }
    }

    /// Keeps the text between tags, with entities decoded; block-level HTML
    /// tags separate words, inline ones (`<b>`) do not.
    fn strip(&mut self, out: &mut String, raw: &str, block: bool) {
        let mut text = String::new();
        for c in raw.chars() {
            if self.in_tag {
                if c == '>' {
                    self.in_tag = false;
                    self.close_tag(out, &mut text, block);
                } else {
                    self.tag.push(c);
                }
            } else if c == '<' {
                self.in_tag = true;
                self.tag.clear();
            } else if self.hidden.is_none() {
                text.push(c);
            }
        }
        out.push_str(&decode_entities(&text));
    }

    fn close_tag(&mut self, out: &mut String, text: &mut String, block: bool) {
        out.push_str(&decode_entities(text));
        text.clear();
        let tag = self.tag.trim();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(hidden) = self.hidden {
            if tag.starts_with('/') && name == hidden {
                self.hidden = None;
            }
            return;
        }
        if !tag.starts_with('/')
            && !tag.ends_with('/')
            && let Some(hidden) = HIDDEN_ELEMENTS.iter().find(|h| **h == name)
        {
            self.hidden = Some(hidden);
        }
        if block || name == "br" {
            out.push(' ');
        }
    }
}

/// The entities raw HTML in content commonly uses; others are left as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One space between words, one line break between blocks, no empty lines, and
/// no `<` that PostgreSQL would take for the start of a tag.
fn tidy(text: &str) -> String {
    let text = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '<'
            && chars
                .peek()
                .is_some_and(|next| next.is_ascii_alphabetic() || "/!?".contains(*next))
        {
            out.push(TAG_BREAK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{TAG_BREAK, plain_text};

    #[test]
    fn markdown_marks_and_link_targets_go_link_text_stays() {
        let text = plain_text(
            "**What it proves:** that `git log -p` works, see [Pro Git](https://git-scm.com/book) \
             and <https://example.org>.\n\n### Deeper {#deeper}\n\n- one _item_\n- [ ] a task\n\n\
             ![a diagram](img.png)\n",
        );
        assert_eq!(
            text,
            "What it proves: that git log -p works, see Pro Git and https://example.org.\n\
             Deeper\none item\na task\na diagram"
        );
    }

    #[test]
    fn html_tags_go_their_text_stays_and_scripts_vanish() {
        let text = plain_text(
            "Decouple <b>producers</b> &amp; consumers.\n\n<div class=\"note\">\nA <em>note</em> &lt;here&gt;\n</div>\n\n\
             <script>alert(1)</script>\n\nAfter.\n",
        );
        assert_eq!(
            text,
            format!("Decouple producers & consumers.\nA note <{TAG_BREAK}here>\nAfter.")
        );
    }

    #[test]
    fn code_blocks_and_tables_keep_their_text() {
        let text = plain_text("```sh\ngit rebase -i main\n```\n\n| a | b |\n|---|---|\n| `x` | y |\n");
        assert_eq!(text, "git rebase -i main\na b\nx y");
    }

    #[test]
    fn literal_angle_brackets_in_code_are_text() {
        // The word joiner keeps PostgreSQL from reading `<script>` as a tag.
        assert_eq!(
            plain_text("Write `<script>`, `a && b` and `x < y`."),
            format!("Write <{TAG_BREAK}script>, a && b and x < y.")
        );
    }
}
