//! Markdown to HTML, sanitized so that nothing from a content file can run script in a page, with every removal reported.
//!
//! A piece of markdown (a skill body, a stage or roadmap introduction) renders in a
//! [`Scope`] whose prefix goes in front of every id it defines (`{skill-id}--{slug}`),
//! so that several skills on one page never clash with each other or with the page.
//! Links are resolved against the whole content ([`Targets`]). Raw HTML is read tag by
//! tag with the same allow-lists the sanitizer uses, so whatever the sanitizer would
//! remove is reported with its line before it goes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{LazyLock, OnceLock};

use pulldown_cmark::{BlockQuoteKind, CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};

use super::highlight::{self, escape};

/// The markdown extensions content files may use.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM
}

/// Bump when rendering changes, so the next load re-renders unchanged files.
pub const RENDER_VERSION: &str = "render-v5";

/// Embeds kept when the configuration names no hosts of its own.
pub const DEFAULT_EMBED_HOSTS: &[&str] = &["www.youtube-nocookie.com", "player.vimeo.com"];
/// What a kept embed may do: play video, not navigate the page or open forms.
pub const EMBED_SANDBOX: &str = "allow-scripts allow-same-origin allow-presentation allow-popups";
pub const EMBED_ALLOW: &str = "fullscreen; picture-in-picture; encrypted-media";
/// Video hosts refuse to play without knowing the embedding site; they get the origin only.
pub const EMBED_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// The renderer's settings that come from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Hosts whose `https://` iframes are kept; every other iframe is dropped with a warning.
    pub embed_hosts: Vec<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            embed_hosts: DEFAULT_EMBED_HOSTS.iter().map(|h| (*h).to_string()).collect(),
        }
    }
}

impl RenderOptions {
    /// Goes into the content hash: other settings render other HTML, so they are a reload.
    pub fn fingerprint(&self) -> String {
        format!("embed-hosts={}", self.embed_hosts.join(","))
    }
}

static CONFIGURED: OnceLock<RenderOptions> = OnceLock::new();

/// Sets the renderer's settings for this process (`serve` and the `content` commands do,
/// from the configuration, before reading any content). The first call wins.
pub fn configure(options: RenderOptions) {
    let _ = CONFIGURED.set(options);
}

/// The settings content loads in this process render with (the defaults unless configured).
pub fn configured() -> &'static RenderOptions {
    CONFIGURED.get_or_init(RenderOptions::default)
}

/// Where a piece of markdown sits: its ids' prefix, and whether it is a skill body.
#[derive(Debug, Clone)]
pub struct Scope {
    prefix: String,
    skill_body: bool,
}

impl Scope {
    /// A skill's text: ids `{skill-id}--…`; its task-list items become sub-steps, not text.
    pub fn skill(id: &str) -> Self {
        Self {
            prefix: id.to_string(),
            skill_body: true,
        }
    }

    /// A stage introduction: ids `stage_{id}--…` (`_` never occurs in a skill id, so these never clash).
    pub fn stage_intro(id: &str) -> Self {
        Self {
            prefix: format!("stage_{id}"),
            skill_body: false,
        }
    }

    /// A roadmap introduction: ids `roadmap_{id}--…`.
    pub fn roadmap_intro(id: &str) -> Self {
        Self {
            prefix: format!("roadmap_{id}"),
            skill_body: false,
        }
    }

    fn what(&self) -> &'static str {
        if self.skill_body { "skill" } else { "introduction" }
    }
}

/// What links in content can point at, beyond the markdown being rendered.
pub trait Targets {
    /// The page of the skill with this id, if there is one.
    fn skill_url(&self, id: &str) -> Option<String>;
    /// A link to a content file as written (`03-git.md`, `../backend/03-git.md`), with
    /// the fragment after `#`; an error says why it points at nothing.
    fn file_url(&self, path: &str, fragment: Option<&str>) -> Result<String, String>;
    /// The served URL of `assets/{name}` in this roadmap, if that file exists.
    fn asset_url(&self, name: &str) -> Option<String>;
}

/// For markdown outside any content: no skills, files or assets.
pub struct NoTargets;

impl Targets for NoTargets {
    fn skill_url(&self, _: &str) -> Option<String> {
        None
    }
    fn file_url(&self, path: &str, _: Option<&str>) -> Result<String, String> {
        Err(format!("no content file {path}"))
    }
    fn asset_url(&self, _: &str) -> Option<String> {
        None
    }
}

/// Something worth telling the author, on a line of the rendered markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line within the markdown given to [`Renderer::render`].
    pub line: usize,
    /// Errors stop a load (a link to nothing); warnings are shown and do not.
    pub error: bool,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub html: String,
    pub problems: Vec<Problem>,
}

/// Callout kinds: the class suffix and the visible title.
const CALLOUTS: &[(&str, &str)] = &[
    ("note", "Note"),
    ("tip", "Tip"),
    ("important", "Important"),
    ("warning", "Warning"),
    ("caution", "Caution"),
];

/// Classes that make a raw `<div>` a callout, and the callout kind each means.
pub const DIV_CALLOUT_CLASSES: &[(&str, &str)] = &[
    ("callout", "note"),
    ("note", "note"),
    ("tip", "tip"),
    ("important", "important"),
    ("warning", "warning"),
    ("caution", "caution"),
    ("lesson-note", "note"),
    ("lesson-note--tip", "tip"),
    ("lesson-note--important", "important"),
    ("lesson-note--warning", "warning"),
    ("lesson-note--caution", "caution"),
];

/// Is `class` one the renderer produces (or a callout class) on `element`? Anything
/// else is removed: content cannot borrow the page's own classes.
fn class_allowed(element: &str, class: &str) -> bool {
    let callout_kind = |class: &str| {
        class
            .strip_prefix("callout-")
            .is_some_and(|kind| CALLOUTS.iter().any(|(k, _)| *k == kind))
    };
    match element {
        "span" => class.starts_with(highlight::CLASS_PREFIX),
        "pre" => class == "hl-code",
        "code" => class.starts_with("language-"),
        "div" => {
            DIV_CALLOUT_CLASSES.iter().any(|(c, _)| *c == class)
                || callout_kind(class)
                || matches!(class, "heading" | "footnote-definition")
        }
        "aside" => class == "callout" || callout_kind(class),
        "p" => class == "callout-title",
        "a" => class == "heading-anchor",
        "sup" => matches!(class, "footnote-reference" | "footnote-definition-label"),
        "th" | "td" => matches!(class, "align-left" | "align-center" | "align-right"),
        _ => false,
    }
}

/// Is `url` an https URL on one of `hosts`?
fn embed_allowed(url: &str, hosts: &[String]) -> bool {
    url::Url::parse(url).is_ok_and(|url| {
        url.scheme() == "https"
            && url
                .host_str()
                .is_some_and(|host| hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    })
}

/// The allow-lists, read once from the sanitizer so the reports and the sanitizer agree.
struct Policy {
    tags: HashSet<&'static str>,
    clean_content_tags: HashSet<&'static str>,
    generic_attributes: HashSet<&'static str>,
    tag_attributes: HashMap<&'static str, HashSet<&'static str>>,
    tag_attribute_values: HashMap<&'static str, HashMap<&'static str, HashSet<&'static str>>>,
    url_schemes: HashSet<&'static str>,
}

/// Renders content markdown with one set of options; build once per load.
pub struct Renderer {
    options: RenderOptions,
    sanitizer: ammonia::Builder<'static>,
    policy: Policy,
}

impl Renderer {
    pub fn new(options: RenderOptions) -> Self {
        let mut builder = ammonia::Builder::default();
        let hosts = options.embed_hosts.clone();
        builder
            // Task-list checkboxes are rendered read-only; everything else an
            // `<input>` could carry (names, values, handlers) is stripped.
            .add_tags(["input", "iframe"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .add_tag_attributes("iframe", ["src", "title", "allowfullscreen"])
            .set_tag_attribute_value("iframe", "sandbox", EMBED_SANDBOX)
            .set_tag_attribute_value("iframe", "allow", EMBED_ALLOW)
            .set_tag_attribute_value("iframe", "referrerpolicy", EMBED_REFERRER_POLICY)
            .set_tag_attribute_value("iframe", "loading", "lazy")
            .add_tag_attributes("details", ["open"])
            .add_tag_attributes("a", ["aria-label"])
            .add_tag_attributes("aside", ["aria-label"])
            .add_tag_attribute_values("aside", "role", ["note"])
            .add_tag_attribute_values("div", "role", ["note"])
            .add_generic_attributes(["id", "class"])
            .attribute_filter(move |element, attribute, value| match attribute {
                // Ids from content all carry a scope prefix and `--`; the page's own never do.
                "id" => value.contains("--").then_some(Cow::Borrowed(value)),
                "class" => {
                    let kept: Vec<&str> = value
                        .split_whitespace()
                        .filter(|class| class_allowed(element, class))
                        .collect();
                    (!kept.is_empty()).then(|| Cow::Owned(kept.join(" ")))
                }
                "src" if element == "iframe" => embed_allowed(value, &hosts).then_some(Cow::Borrowed(value)),
                _ => Some(Cow::Borrowed(value)),
            })
            .link_rel(Some("noopener noreferrer"));
        let policy = Policy {
            tags: builder.clone_tags(),
            clean_content_tags: builder.clone_clean_content_tags(),
            generic_attributes: builder.clone_generic_attributes(),
            tag_attributes: builder.clone_tag_attributes(),
            tag_attribute_values: builder.clone_tag_attribute_values(),
            url_schemes: builder.clone_url_schemes(),
        };
        Self {
            options,
            sanitizer: builder,
            policy,
        }
    }

    pub fn options(&self) -> &RenderOptions {
        &self.options
    }

    /// Renders `markdown` in `scope`, resolving links against `targets`.
    pub fn render(&self, markdown: &str, scope: &Scope, targets: &dyn Targets) -> Rendered {
        let mut events = merge_html_blocks(Parser::new_ext(markdown, markdown_options()).into_offset_iter());
        if scope.skill_body {
            events = without_task_items(events);
        }
        let mut run = Run {
            renderer: self,
            scope,
            targets,
            markdown,
            problems: Vec::new(),
            anchors: HashMap::new(),
            used: HashSet::new(),
            headings: Vec::new(),
            skipping: None,
            in_comment: false,
            dropped_iframes: 0,
        };
        run.collect_anchors(&events);
        let output = run.transform(events);
        let mut raw = String::with_capacity(markdown.len() * 3 / 2);
        html::push_html(&mut raw, output.into_iter());
        let raw = alignment_classes(&raw);
        Rendered {
            html: self.sanitizer.clean(&raw).to_string(),
            problems: run.problems,
        }
    }
}

static DEFAULT_RENDERER: LazyLock<Renderer> = LazyLock::new(|| Renderer::new(RenderOptions::default()));

/// Renders and sanitizes markdown outside any content scope (links to skills or
/// assets resolve to nothing). Raw `<script>`, event-handler attributes and
/// `javascript:` URLs never survive.
pub fn markdown_to_html(markdown: &str) -> String {
    DEFAULT_RENDERER
        .render(markdown, &Scope::roadmap_intro("page"), &NoTargets)
        .html
}

/// Renders a skill body without its task-list items: those become sub-steps,
/// shown per learner as a checklist under the text.
pub fn skill_body_to_html(markdown: &str) -> String {
    DEFAULT_RENDERER
        .render(markdown, &Scope::skill("skill"), &NoTargets)
        .html
}

type Spanned<'a> = (Event<'a>, Range<usize>);

/// One event per HTML block (the parser gives one per line), so a tag written over
/// several lines is read whole.
fn merge_html_blocks<'a>(events: impl Iterator<Item = Spanned<'a>>) -> Vec<Spanned<'a>> {
    let mut out: Vec<Spanned<'a>> = Vec::new();
    // Index in `out` of the current block's HTML, once it has some.
    let mut block: Option<Option<usize>> = None;
    for (event, range) in events {
        match (event, block) {
            (Event::Start(Tag::HtmlBlock), _) => block = Some(None),
            (Event::End(TagEnd::HtmlBlock), _) => block = None,
            (Event::Html(text), Some(Some(index))) => {
                let (Event::Html(joined), joined_range) = &mut out[index] else {
                    unreachable!("the block's index points at its HTML")
                };
                let mut whole = joined.to_string();
                whole.push_str(&text);
                *joined = CowStr::from(whole);
                joined_range.end = range.end;
            }
            (Event::Html(text), Some(None)) => {
                block = Some(Some(out.len()));
                out.push((Event::Html(text), range));
            }
            (event, _) => out.push((event, range)),
        }
    }
    out
}

/// Skill bodies leave their task-list items to the checklist; a list whose items were
/// all tasks goes whole.
fn without_task_items(events: Vec<Spanned<'_>>) -> Vec<Spanned<'_>> {
    let mut kept: Vec<Spanned<'_>> = Vec::with_capacity(events.len());
    let mut index = 0;
    while index < events.len() {
        if matches!(events[index].0, Event::Start(Tag::Item)) && is_task_item(&events[index + 1..]) {
            // Skip to the matching end of this item, nested items included.
            let mut depth = 0;
            while index < events.len() {
                match events[index].0 {
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
    let mut cleaned: Vec<Spanned<'_>> = Vec::with_capacity(kept.len());
    for event in kept {
        if matches!(event.0, Event::End(TagEnd::List(_)))
            && matches!(cleaned.last(), Some((Event::Start(Tag::List(_)), _)))
        {
            cleaned.pop();
            continue;
        }
        cleaned.push(event);
    }
    cleaned
}

/// Does the item whose events follow start with a task-list marker?
fn is_task_item(rest: &[Spanned<'_>]) -> bool {
    matches!(
        rest,
        [(Event::TaskListMarker(_), _), ..]
            | [
                (Event::Start(Tag::Paragraph), _),
                (Event::TaskListMarker(_), _),
                ..
            ]
    )
}

/// Table alignment as classes: the CSP forbids the `style` the parser writes.
fn alignment_classes(raw: &str) -> Cow<'_, str> {
    if !raw.contains(" style=\"text-align: ") {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(
        raw.replace(" style=\"text-align: left\">", " class=\"align-left\">")
            .replace(" style=\"text-align: center\">", " class=\"align-center\">")
            .replace(" style=\"text-align: right\">", " class=\"align-right\">"),
    )
}

/// A heading's slug as GitHub makes it, so links written for GitHub keep working:
/// lowercase, letters, digits, `-` and `_` kept, spaces to `-`, the rest dropped.
pub fn heading_slug(title: &str) -> String {
    let slug: String = title
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect();
    if slug.is_empty() { "section".into() } else { slug }
}

/// An id or footnote name from content, kept to characters safe in an id and a URL.
fn local_id(raw: &str) -> String {
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() { "anchor".into() } else { id }
}

/// The scheme of an absolute URL (`https`, `javascript`), lowercased.
fn url_scheme(url: &str) -> Option<String> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    (chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then(|| scheme.to_ascii_lowercase())
}

/// Decodes the entities an attribute value commonly carries.
fn decode_entities(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One piece of raw HTML.
#[derive(Debug)]
enum Token<'a> {
    Text(&'a str),
    Start {
        name: String,
        attributes: Vec<(String, String)>,
        position: usize,
    },
    End {
        name: String,
    },
}

/// Splits raw HTML into text and tags; comments, doctypes and processing instructions
/// are left out (the sanitizer strips them too). `in_comment` carries a comment that
/// runs past the end of `text` into the next piece.
fn tokenize<'a>(text: &'a str, in_comment: &mut bool) -> Vec<Token<'a>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    if *in_comment {
        match text.find("-->") {
            Some(end) => {
                index = end + 3;
                *in_comment = false;
            }
            None => return tokens,
        }
    }
    while index < text.len() {
        let Some(lt) = text[index..].find('<').map(|i| index + i) else {
            tokens.push(Token::Text(&text[index..]));
            break;
        };
        if lt > index {
            tokens.push(Token::Text(&text[index..lt]));
        }
        let rest = &text[lt..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            match comment.find("-->") {
                Some(end) => index = lt + 4 + end + 3,
                None => {
                    *in_comment = true;
                    break;
                }
            }
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            index = rest.find('>').map_or(text.len(), |end| lt + end + 1);
            continue;
        }
        let closing = rest.starts_with("</");
        let name_start = lt + if closing { 2 } else { 1 };
        let name_end = text[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(text.len(), |i| name_start + i);
        if name_end == name_start || !bytes[name_start].is_ascii_alphabetic() {
            tokens.push(Token::Text(&text[lt..lt + 1]));
            index = lt + 1;
            continue;
        }
        let name = text[name_start..name_end].to_ascii_lowercase();
        if closing {
            index = text[name_end..]
                .find('>')
                .map_or(text.len(), |end| name_end + end + 1);
            tokens.push(Token::End { name });
            continue;
        }
        match parse_attributes(text, name_end) {
            Some((attributes, end)) => {
                tokens.push(Token::Start {
                    name,
                    attributes,
                    position: lt,
                });
                index = end;
            }
            None => {
                // An unfinished tag: text, as a browser would show it.
                tokens.push(Token::Text(&text[lt..]));
                break;
            }
        }
    }
    tokens
}

/// The attributes of a start tag from `from` to its `>`, and the index after the `>`.
fn parse_attributes(text: &str, from: usize) -> Option<(Vec<(String, String)>, usize)> {
    let bytes = text.as_bytes();
    let mut attributes = Vec::new();
    let mut i = from;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'>' {
            return Some((attributes, i + 1));
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = text[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i] as char;
                let end = text[i + 1..].find(quote)? + i + 1;
                value = decode_entities(&text[i + 1..end]);
                i = end + 1;
            } else {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&text[start..i]);
            }
        }
        if !name.is_empty() {
            attributes.push((name, value));
        }
    }
}

/// One rendering: the anchors found, the problems met, raw-HTML state across events.
struct Run<'r> {
    renderer: &'r Renderer,
    scope: &'r Scope,
    targets: &'r dyn Targets,
    markdown: &'r str,
    problems: Vec<Problem>,
    /// Anchor as links write it → the prefixed id in the page.
    anchors: HashMap<String, String>,
    /// Local ids taken in this scope (without the prefix).
    used: HashSet<String>,
    /// Each heading's prefixed id and text, in order.
    headings: Vec<(String, String)>,
    /// Inside an element the sanitizer drops with its content (`<script>`): its name.
    skipping: Option<String>,
    in_comment: bool,
    /// `</iframe>` tags still to drop, for iframes that were dropped.
    dropped_iframes: usize,
}

impl Run<'_> {
    fn line(&self, offset: usize) -> usize {
        super::parse::line_at(self.markdown, offset)
    }

    fn warn(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            line,
            error: false,
            message,
        });
    }

    fn error(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            line,
            error: true,
            message,
        });
    }

    /// `local` made unique in the scope with `-1`, `-2`… as GitHub does, and its prefixed id.
    fn claim(&mut self, local: &str) -> (String, String) {
        let mut candidate = local.to_string();
        let mut n = 0;
        while self.used.contains(&candidate) {
            n += 1;
            candidate = format!("{local}-{n}");
        }
        self.used.insert(candidate.clone());
        let id = format!("{}--{candidate}", self.scope.prefix);
        (candidate, id)
    }

    fn footnote_id(&self, name: &str) -> String {
        format!("{}--fn-{}", self.scope.prefix, local_id(name))
    }

    /// First pass: every heading's id and every explicit anchor, so links above them resolve.
    fn collect_anchors(&mut self, events: &[Spanned<'_>]) {
        let mut heading: Option<(Option<String>, String)> = None;
        let mut in_comment = false;
        for (event, range) in events {
            match event {
                Event::Start(Tag::Heading { id, .. }) => {
                    heading = Some((id.as_ref().map(|id| id.to_string()), String::new()));
                }
                Event::Text(text) | Event::Code(text) => {
                    if let Some((_, title)) = heading.as_mut() {
                        title.push_str(text);
                    }
                }
                Event::End(TagEnd::Heading(_)) => {
                    if let Some((explicit, title)) = heading.take() {
                        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
                        let slug = heading_slug(&title);
                        let local = explicit.as_deref().map_or_else(|| slug.clone(), local_id);
                        let (unique, id) = self.claim(&local);
                        // Links may name the heading by its id, its slug, or its `-1` form.
                        for key in explicit.into_iter().chain([slug, unique]) {
                            self.anchors.entry(key).or_insert_with(|| id.clone());
                        }
                        self.headings.push((id, title));
                    }
                }
                Event::Html(text) | Event::InlineHtml(text) => {
                    for token in tokenize(text, &mut in_comment) {
                        let Token::Start {
                            name,
                            attributes,
                            position,
                        } = token
                        else {
                            continue;
                        };
                        let anchor = attributes
                            .iter()
                            .find(|(k, _)| k == "id")
                            .or_else(|| attributes.iter().find(|(k, _)| k == "name" && name == "a"));
                        if let Some((_, value)) = anchor {
                            let value = value.trim().to_string();
                            if value.is_empty() {
                                continue;
                            }
                            let line = self.line(range.start) + text[..position].matches('\n').count();
                            if self.anchors.contains_key(&value) {
                                self.warn(
                                    line,
                                    format!("the anchor id \"{value}\" is used twice in this {}; links go to the first", self.scope.what()),
                                );
                                continue;
                            }
                            let (_, id) = self.claim(&local_id(&value));
                            self.anchors.insert(value, id);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Second pass: the events to write, with ids, links, code, callouts and raw HTML rewritten.
    fn transform<'a>(&mut self, events: Vec<Spanned<'a>>) -> Vec<Event<'a>> {
        let mut out = Vec::with_capacity(events.len() + self.headings.len() * 2);
        let mut headings = std::mem::take(&mut self.headings).into_iter();
        let mut current_heading: Option<(String, String)> = None;
        let mut code: Option<(Option<String>, String)> = None;
        let mut index = 0;
        while index < events.len() {
            let (event, range) = events[index].clone();
            index += 1;
            let line = self.line(range.start);
            if let Some((_, text)) = code.as_mut() {
                match event {
                    Event::Text(t) => text.push_str(&t),
                    Event::End(TagEnd::CodeBlock) => {
                        let (language, text) = code.take().unwrap_or_default();
                        out.push(Event::Html(CowStr::from(code_block(&text, language.as_deref()))));
                    }
                    _ => {}
                }
                continue;
            }
            if self.skipping.is_some()
                && matches!(
                    event,
                    Event::Text(_) | Event::Code(_) | Event::SoftBreak | Event::HardBreak
                )
            {
                continue;
            }
            match event {
                Event::Start(Tag::CodeBlock(kind)) => {
                    let language = match kind {
                        CodeBlockKind::Fenced(info) => highlight::language_token(&info),
                        CodeBlockKind::Indented => None,
                    };
                    code = Some((language, String::new()));
                }
                Event::Start(Tag::Heading { level, .. }) => {
                    let (id, title) = headings.next().unwrap_or_default();
                    out.push(Event::Html(CowStr::Borrowed("<div class=\"heading\">")));
                    out.push(Event::Start(Tag::Heading {
                        level,
                        id: Some(CowStr::from(id.clone())),
                        classes: Vec::new(),
                        attrs: Vec::new(),
                    }));
                    current_heading = Some((id, title));
                }
                Event::End(TagEnd::Heading(level)) => {
                    out.push(Event::End(TagEnd::Heading(level)));
                    let (id, title) = current_heading.take().unwrap_or_default();
                    out.push(Event::Html(CowStr::from(format!(
                        "<a class=\"heading-anchor\" href=\"#{id}\" aria-label=\"Link to this section: {}\">#</a></div>\n",
                        escape(&title)
                    ))));
                }
                Event::Start(Tag::BlockQuote(Some(kind))) => {
                    let (class, title) = callout(kind);
                    out.push(Event::Html(CowStr::from(format!(
                        "<aside class=\"callout callout-{class}\" role=\"note\" aria-label=\"{title}\">\n<p class=\"callout-title\">{title}</p>\n"
                    ))));
                }
                Event::End(TagEnd::BlockQuote(Some(_))) => {
                    out.push(Event::Html(CowStr::Borrowed("</aside>\n")))
                }
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => {
                    let dest_url = self.resolve(&dest_url, line, "link");
                    out.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url: CowStr::from(dest_url),
                        title,
                        id,
                    }));
                }
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => {
                    let has_alt = events[index..]
                        .iter()
                        .take_while(|(e, _)| !matches!(e, Event::End(TagEnd::Image)))
                        .any(|(e, _)| matches!(e, Event::Text(t) | Event::Code(t) if !t.trim().is_empty()));
                    if !has_alt {
                        self.warn(
                            line,
                            format!(
                                "image {dest_url} has no alt text; describe it for readers who cannot see it: ![what it shows]({dest_url})"
                            ),
                        );
                    }
                    let dest_url = self.resolve(&dest_url, line, "image");
                    out.push(Event::Start(Tag::Image {
                        link_type,
                        dest_url: CowStr::from(dest_url),
                        title,
                        id,
                    }));
                }
                Event::FootnoteReference(name) => {
                    out.push(Event::FootnoteReference(CowStr::from(self.footnote_id(&name))));
                }
                Event::Start(Tag::FootnoteDefinition(name)) => {
                    out.push(Event::Start(Tag::FootnoteDefinition(CowStr::from(
                        self.footnote_id(&name),
                    ))));
                }
                Event::Html(text) => {
                    let html = self.raw_html(&text, line);
                    out.push(Event::Html(CowStr::from(html)));
                }
                Event::InlineHtml(text) => {
                    let html = self.raw_html(&text, line);
                    out.push(Event::InlineHtml(CowStr::from(html)));
                }
                other => out.push(other),
            }
        }
        out
    }

    /// A link or image destination as the page needs it: in-page anchors prefixed, skill
    /// links and content files to their pages, assets to their fingerprinted URLs.
    fn resolve(&mut self, dest: &str, line: usize, what: &str) -> String {
        let dest = dest.trim();
        if dest.is_empty() {
            return String::new();
        }
        if let Some(fragment) = dest.strip_prefix('#') {
            if let Some(id) = self
                .anchors
                .get(fragment)
                .or_else(|| self.anchors.get(&heading_slug(fragment)))
            {
                return format!("#{id}");
            }
            if let Some(url) = self.targets.skill_url(fragment) {
                return url;
            }
            self.warn(
                line,
                format!(
                    "in-page link #{fragment} matches no heading or anchor in this {}, and no skill id; \
                     fix the link or give its target that id",
                    self.scope.what()
                ),
            );
            return dest.to_string();
        }
        if dest.len() > 6 && dest[..6].eq_ignore_ascii_case("skill:") {
            let (id, fragment) = split_fragment(&dest[6..]);
            return match self.targets.skill_url(id) {
                Some(url) => match fragment {
                    Some(fragment) => format!("{url}#{id}--{}", local_id(fragment)),
                    None => url,
                },
                None => {
                    self.error(
                        line,
                        format!("link to unknown skill \"{id}\" (skill:{id}); use the id of a skill in the content"),
                    );
                    dest.to_string()
                }
            };
        }
        if what == "image"
            && (url_scheme(dest).is_some_and(|s| s == "http" || s == "https") || dest.starts_with("//"))
        {
            self.warn(
                line,
                format!(
                    "image {dest} is on another site, and pages show images from this site only \
                     (their security policy); copy it into the roadmap's assets/ folder"
                ),
            );
            return dest.to_string();
        }
        if let Some(scheme) = url_scheme(dest) {
            if !self.renderer.policy.url_schemes.contains(scheme.as_str()) {
                self.warn(
                    line,
                    format!("removed a {what} to a {scheme}: URL; only web, mail and similar links are kept"),
                );
            }
            return dest.to_string();
        }
        if dest.starts_with('/') {
            return dest.to_string();
        }
        let (before_fragment, fragment) = split_fragment(dest);
        let path = before_fragment.split('?').next().unwrap_or_default();
        if path.to_ascii_lowercase().ends_with(".md") {
            return match self.targets.file_url(path, fragment) {
                Ok(url) => url,
                Err(problem) => {
                    self.error(line, format!("{what} {dest} points at nothing: {problem}"));
                    dest.to_string()
                }
            };
        }
        let mut relative = path;
        loop {
            if let Some(rest) = relative.strip_prefix("./") {
                relative = rest;
            } else if let Some(rest) = relative.strip_prefix("../") {
                relative = rest;
            } else {
                break;
            }
        }
        if let Some(name) = relative.strip_prefix("assets/") {
            return match self.targets.asset_url(name) {
                Some(url) => match fragment {
                    Some(fragment) => format!("{url}#{fragment}"),
                    None => url,
                },
                None => {
                    self.error(
                        line,
                        format!("{what} {dest}: there is no file assets/{name} in this roadmap's folder"),
                    );
                    dest.to_string()
                }
            };
        }
        self.warn(
            line,
            format!(
                "relative {what} {dest} points outside the roadmap's assets/ folder and at no content file, \
                 so it cannot work on the site; move the file into assets/ or link to a full URL"
            ),
        );
        dest.to_string()
    }

    /// Raw HTML rewritten tag by tag: ids prefixed, links resolved, callout classes kept,
    /// allowed embeds made safe, and everything the sanitizer would remove reported.
    fn raw_html(&mut self, text: &str, line: usize) -> String {
        let mut out = String::with_capacity(text.len());
        let mut in_comment = self.in_comment;
        let tokens = tokenize(text, &mut in_comment);
        self.in_comment = in_comment;
        for token in tokens {
            match token {
                Token::Text(t) => {
                    if self.skipping.is_none() {
                        out.push_str(t);
                    }
                }
                Token::End { name } => {
                    if let Some(skipping) = &self.skipping {
                        if *skipping == name {
                            self.skipping = None;
                        }
                        continue;
                    }
                    if name == "iframe" && self.dropped_iframes > 0 {
                        self.dropped_iframes -= 1;
                        continue;
                    }
                    if self.renderer.policy.tags.contains(name.as_str()) {
                        out.push_str(&format!("</{name}>"));
                    }
                }
                Token::Start {
                    name,
                    attributes,
                    position,
                } => {
                    if self.skipping.is_some() {
                        continue;
                    }
                    let line = line + text[..position].matches('\n').count();
                    self.start_tag(&name, attributes, line, &mut out);
                }
            }
        }
        out
    }

    fn start_tag(&mut self, name: &str, attributes: Vec<(String, String)>, line: usize, out: &mut String) {
        if self.renderer.policy.clean_content_tags.contains(name) {
            let why = if name == "script" {
                "content files cannot run script"
            } else {
                "pages allow no inline styles"
            };
            self.warn(line, format!("removed <{name}> and everything in it: {why}"));
            self.skipping = Some(name.to_string());
            return;
        }
        if name == "iframe" {
            self.iframe(&attributes, line, out);
            return;
        }
        if !self.renderer.policy.tags.contains(name) {
            self.warn(
                line,
                format!("removed the unsupported tag <{name}> (the text inside it is kept)"),
            );
            return;
        }
        let mut kept: Vec<(String, String)> = Vec::new();
        let mut callout_kind: Option<&'static str> = None;
        let mut has_alt = false;
        for (attribute, value) in attributes {
            match attribute.as_str() {
                a if a.starts_with("on") => self.warn(
                    line,
                    format!("removed the event handler {a}= from <{name}>: content files cannot run script"),
                ),
                "style" => self.warn(
                    line,
                    format!("removed style= from <{name}>: pages allow no inline styles; use a callout class or plain markdown"),
                ),
                "id" | "name" if attribute == "id" || name == "a" => {
                    let value = value.trim();
                    if value.is_empty() || kept.iter().any(|(k, _)| k == "id") {
                        continue;
                    }
                    let id = self
                        .anchors
                        .get(value)
                        .cloned()
                        .unwrap_or_else(|| format!("{}--{}", self.scope.prefix, local_id(value)));
                    kept.push(("id".into(), id));
                }
                "class" => {
                    let mut classes = Vec::new();
                    for class in value.split_whitespace() {
                        if name == "div"
                            && let Some((_, kind)) = DIV_CALLOUT_CLASSES.iter().find(|(c, _)| *c == class)
                        {
                            if callout_kind.is_none_or(|k| k == "note") {
                                callout_kind = Some(kind);
                            }
                            classes.push(class.to_string());
                        } else if class_allowed(name, class) {
                            classes.push(class.to_string());
                        } else {
                            let hint = if name == "div" {
                                "; the callout classes are note, tip, important, warning, caution and lesson-note, lesson-note--tip…"
                            } else {
                                ""
                            };
                            self.warn(line, format!("removed the class \"{class}\" from <{name}>{hint}"));
                        }
                    }
                    if !classes.is_empty() {
                        kept.push(("class".into(), classes.join(" ")));
                    }
                }
                "href" | "src" if matches!((name, attribute.as_str()), ("a", "href") | ("img", "src")) => {
                    let what = if name == "img" { "image" } else { "link" };
                    let url = self.resolve(&value, line, what);
                    kept.push((attribute, url));
                }
                _ => {
                    let policy = &self.renderer.policy;
                    let allowed = policy.generic_attributes.contains(attribute.as_str())
                        || policy
                            .tag_attributes
                            .get(name)
                            .is_some_and(|set| set.contains(attribute.as_str()))
                        || policy
                            .tag_attribute_values
                            .get(name)
                            .and_then(|values| values.get(attribute.as_str()))
                            .is_some_and(|values| values.iter().any(|v| v.eq_ignore_ascii_case(&value)));
                    if !allowed {
                        self.warn(line, format!("removed the attribute {attribute}= from <{name}>"));
                        continue;
                    }
                    if attribute == "alt" && !value.trim().is_empty() {
                        has_alt = true;
                    }
                    kept.push((attribute, value));
                }
            }
        }
        if name == "img" && !has_alt {
            let src = kept
                .iter()
                .find(|(k, _)| k == "src")
                .map_or("", |(_, v)| v.as_str());
            self.warn(
                line,
                format!(
                    "image {src} has no alt text; add alt=\"what it shows\" for readers who cannot see it"
                ),
            );
        }
        if let Some(kind) = callout_kind {
            if let Some((_, classes)) = kept.iter_mut().find(|(k, _)| k == "class") {
                *classes = format!("callout callout-{kind} {classes}");
            }
            kept.retain(|(k, _)| k != "role");
            kept.push(("role".into(), "note".into()));
        }
        write_tag(out, name, &kept);
    }

    /// An iframe stays only from an allowed https host, with a title and a tight sandbox.
    fn iframe(&mut self, attributes: &[(String, String)], line: usize, out: &mut String) {
        let get = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
        };
        let src = get("src").unwrap_or_default();
        if !embed_allowed(&src, &self.renderer.options.embed_hosts) {
            let hosts = if self.renderer.options.embed_hosts.is_empty() {
                "none are allowed".to_string()
            } else {
                self.renderer.options.embed_hosts.join(", ")
            };
            self.warn(
                line,
                format!(
                    "removed an <iframe> from {}: embeds are kept only from https:// hosts in --embed-hosts ({hosts})",
                    if src.is_empty() { "nowhere (it has no src)" } else { src.as_str() }
                ),
            );
            self.dropped_iframes += 1;
            return;
        }
        let title = get("title")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Embedded video".into());
        write_tag(
            out,
            "iframe",
            &[
                ("src".into(), src),
                ("title".into(), title),
                ("loading".into(), "lazy".into()),
                ("sandbox".into(), EMBED_SANDBOX.into()),
                ("allow".into(), EMBED_ALLOW.into()),
                ("referrerpolicy".into(), EMBED_REFERRER_POLICY.into()),
                ("allowfullscreen".into(), String::new()),
            ],
        );
    }
}

fn write_tag(out: &mut String, name: &str, attributes: &[(String, String)]) {
    out.push('<');
    out.push_str(name);
    for (key, value) in attributes {
        out.push(' ');
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(&escape(value));
        out.push('"');
    }
    out.push('>');
}

fn split_fragment(dest: &str) -> (&str, Option<&str>) {
    match dest.split_once('#') {
        Some((before, fragment)) if !fragment.is_empty() => (before, Some(fragment)),
        Some((before, _)) => (before, None),
        None => (dest, None),
    }
}

fn callout(kind: BlockQuoteKind) -> (&'static str, &'static str) {
    let index = match kind {
        BlockQuoteKind::Note => 0,
        BlockQuoteKind::Tip => 1,
        BlockQuoteKind::Important => 2,
        BlockQuoteKind::Warning => 3,
        BlockQuoteKind::Caution => 4,
    };
    CALLOUTS[index]
}

/// `<pre class="hl-code"><code class="language-x">` with the code highlighted, or escaped when the
/// language is unknown.
fn code_block(code: &str, language: Option<&str>) -> String {
    let class = language.map_or_else(String::new, |l| format!(" class=\"language-{}\"", escape(l)));
    format!(
        "<pre class=\"hl-code\"><code{class}>{}</code></pre>\n",
        highlight::highlight(code, language)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture;

    impl Targets for Fixture {
        fn skill_url(&self, id: &str) -> Option<String> {
            (id == "git-commits").then(|| "/roadmaps/backend/git/git-commits".into())
        }
        fn file_url(&self, path: &str, fragment: Option<&str>) -> Result<String, String> {
            match (path, fragment) {
                ("03-git.md", None) => Ok("/roadmaps/backend/git".into()),
                ("03-git.md", Some("git-commits")) => Ok("/roadmaps/backend/git/git-commits".into()),
                _ => Err("no such skill".into()),
            }
        }
        fn asset_url(&self, name: &str) -> Option<String> {
            (name == "diagram.png").then(|| "/assets/abc123/diagram.png".into())
        }
    }

    fn render(markdown: &str) -> Rendered {
        Renderer::new(RenderOptions::default()).render(markdown, &Scope::skill("http"), &Fixture)
    }

    fn messages(rendered: &Rendered) -> String {
        rendered
            .problems
            .iter()
            .map(|p| format!("{}:{}:{}", p.line, if p.error { "E" } else { "W" }, p.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn renders_tables_strikethrough_and_task_lists() {
        let html = markdown_to_html("| a | b |\n|:-:|--:|\n| c | d |\n\n~~old~~\n\n- [x] done\n- [ ] todo\n");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains(r#"<th class="align-center">a</th>"#), "{html}");
        assert!(html.contains(r#"<td class="align-right">d</td>"#), "{html}");
        assert!(!html.contains("style="), "{html}");
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
    fn strips_script_handlers_and_javascript_urls_and_says_so() {
        let rendered = render(
            "<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\" alt=\"x\">\n\n[click](javascript:alert(3))\n\n<a href=\"javascript:alert(4)\">x</a>\n\nInline <script>alert(5)</script> too.\n",
        );
        let lower = rendered.html.to_lowercase();
        assert!(!lower.contains("<script"), "{lower}");
        assert!(!lower.contains("onerror"), "{lower}");
        assert!(!lower.contains("javascript:"), "{lower}");
        assert!(!lower.contains("alert("), "{lower}");
        assert!(lower.contains("inline") && lower.contains("too."), "{lower}");
        let report = messages(&rendered);
        assert!(report.contains("1:W:removed <script>"), "{report}");
        assert!(
            report.contains("3:W:removed the event handler onerror="),
            "{report}"
        );
        assert!(
            report.contains("5:W:removed a link to a javascript: URL"),
            "{report}"
        );
        assert!(
            report.contains("7:W:removed a link to a javascript: URL"),
            "{report}"
        );
        assert!(report.contains("9:W:removed <script>"), "{report}");
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

    #[test]
    fn code_keeps_its_language_and_is_highlighted_with_classes() {
        let rendered =
            render("```rust\nfn main() { let x = 1; }\n```\n\n```mermaid\ngraph <b>\n```\n\n    indented\n");
        let html = &rendered.html;
        assert!(
            html.contains(r#"<code class="language-rust"><span class="hl-"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<code class="language-mermaid">graph &lt;b&gt;"#),
            "{html}"
        );
        assert!(html.contains(r#"<pre class="hl-code"><code>indented"#), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(rendered.problems.is_empty(), "{}", messages(&rendered));
    }

    #[test]
    fn headings_get_prefixed_unique_ids_and_self_links() {
        let rendered = render(
            "See [setup](#setup), [again](#Setup) and [the other](#setup-1).\n\n### Setup\n\n### Setup\n\n#### What's new? {#news}\n\n[news](#news)\n",
        );
        let html = &rendered.html;
        assert!(html.contains(r#"<h3 id="http--setup">Setup</h3>"#), "{html}");
        assert!(html.contains(r#"<h3 id="http--setup-1">Setup</h3>"#), "{html}");
        assert!(
            html.contains(r#"<h4 id="http--news">What’s new?</h4>"#)
                || html.contains(r#"<h4 id="http--news">What's new?</h4>"#),
            "{html}"
        );
        assert!(
            html.contains(
                r##"<a class="heading-anchor" href="#http--setup" aria-label="Link to this section: Setup""##
            ),
            "{html}"
        );
        assert!(
            html.contains(r##"<a href="#http--setup" rel="noopener noreferrer">setup</a>"##),
            "{html}"
        );
        assert!(
            html.contains(r##"<a href="#http--setup" rel="noopener noreferrer">again</a>"##),
            "{html}"
        );
        assert!(
            html.contains(r##"<a href="#http--setup-1" rel="noopener noreferrer">the other</a>"##),
            "{html}"
        );
        assert!(html.contains(r##"href="#http--news""##), "{html}");
        assert!(rendered.problems.is_empty(), "{}", messages(&rendered));
    }

    #[test]
    fn explicit_anchors_are_prefixed_and_links_follow() {
        let rendered = render(
            "Jump [down](#deep) or [by name](#old).\n\nText <span id=\"deep\">here</span>.\n\n<a name=\"old\"></a>\n\n[Nowhere](#missing)\n",
        );
        let html = &rendered.html;
        assert!(html.contains(r#"<span id="http--deep">here</span>"#), "{html}");
        assert!(html.contains(r#"<a id="http--old""#), "{html}");
        assert!(
            html.contains(r##"href="#http--deep""##) && html.contains(r##"href="#http--old""##),
            "{html}"
        );
        let report = messages(&rendered);
        assert!(
            report.contains("7:W:in-page link #missing matches no heading"),
            "{report}"
        );
    }

    #[test]
    fn ids_without_the_scope_never_reach_the_page() {
        let html = Renderer::new(RenderOptions::default())
            .sanitizer
            .clean(r#"<div id="main">x</div><h3 id="http--ok">y</h3>"#)
            .to_string();
        assert!(!html.contains(r#"id="main""#), "{html}");
        assert!(html.contains(r#"id="http--ok""#), "{html}");
    }

    #[test]
    fn footnotes_are_prefixed_per_scope() {
        let rendered = render("A claim.[^src]\n\n[^src]: The source.\n");
        let html = &rendered.html;
        assert!(
            html.contains(r##"<sup class="footnote-reference"><a href="#http--fn-src""##),
            "{html}"
        );
        assert!(
            html.contains(r#"<div class="footnote-definition" id="http--fn-src">"#),
            "{html}"
        );
    }

    #[test]
    fn callouts_from_alerts_and_div_classes() {
        let rendered = render(
            "> [!WARNING]\n> Back up first.\n\n> plain quote\n\n<div class=\"lesson-note lesson-note--tip\" style=\"color:red\">\n\nUse **tabs**.\n\n</div>\n\n<div class=\"fancy\">x</div>\n",
        );
        let html = &rendered.html;
        assert!(
            html.contains(r#"<aside class="callout callout-warning" role="note" aria-label="Warning">"#),
            "{html}"
        );
        assert!(html.contains(r#"<p class="callout-title">Warning</p>"#), "{html}");
        assert!(html.contains("<blockquote>\n<p>plain quote</p>"), "{html}");
        assert!(
            html.contains(r#"<div class="callout callout-tip lesson-note lesson-note--tip" role="note">"#),
            "{html}"
        );
        assert!(html.contains("<strong>tabs</strong>"), "{html}");
        let report = messages(&rendered);
        assert!(report.contains("6:W:removed style= from <div>"), "{report}");
        assert!(
            report.contains("12:W:removed the class \"fancy\" from <div>"),
            "{report}"
        );
    }

    #[test]
    fn details_summary_survive() {
        let rendered = render("<details open>\n<summary>Hint</summary>\n\nTry **this**.\n\n</details>\n");
        assert!(rendered.html.contains("<details open=\"\">"), "{}", rendered.html);
        assert!(
            rendered.html.contains("<summary>Hint</summary>"),
            "{}",
            rendered.html
        );
        assert!(rendered.problems.is_empty(), "{}", messages(&rendered));
    }

    #[test]
    fn embeds_only_from_allowed_hosts() {
        let rendered = render(
            "<iframe width=\"560\" src=\"https://www.youtube-nocookie.com/embed/abc\" frameborder=\"0\" allow=\"autoplay\"></iframe>\n\n<iframe\n  src=\"https://evil.example/x\"\n  title=\"Bad\"></iframe>\n\n<iframe src=\"http://player.vimeo.com/video/1\"></iframe>\n",
        );
        let html = &rendered.html;
        assert!(
            html.contains(r#"src="https://www.youtube-nocookie.com/embed/abc""#),
            "{html}"
        );
        assert!(html.contains(r#"title="Embedded video""#), "{html}");
        assert!(html.contains(r#"loading="lazy""#), "{html}");
        assert!(html.contains(&format!(r#"sandbox="{EMBED_SANDBOX}""#)), "{html}");
        assert!(html.contains(&format!(r#"allow="{EMBED_ALLOW}""#)), "{html}");
        assert!(
            !html.contains("evil.example") && !html.contains("http://player"),
            "{html}"
        );
        assert_eq!(html.matches("<iframe").count(), 1, "{html}");
        let report = messages(&rendered);
        assert!(
            report.contains("3:W:removed an <iframe> from https://evil.example/x"),
            "{report}"
        );
        assert!(
            report.contains("7:W:removed an <iframe> from http://player.vimeo.com/video/1"),
            "{report}"
        );

        let none = Renderer::new(RenderOptions {
            embed_hosts: Vec::new(),
        })
        .render(
            "<iframe src=\"https://www.youtube-nocookie.com/embed/abc\"></iframe>\n",
            &Scope::skill("a"),
            &NoTargets,
        );
        assert!(!none.html.contains("<iframe"), "{}", none.html);
        assert!(none.problems[0].message.contains("none are allowed"));
    }

    #[test]
    fn sanitizer_alone_refuses_an_iframe_from_elsewhere() {
        let renderer = Renderer::new(RenderOptions::default());
        let html = renderer
            .sanitizer
            .clean(r#"<iframe src="https://evil.example/" sandbox="allow-top-navigation"></iframe>"#)
            .to_string();
        assert!(!html.contains("evil.example"), "{html}");
        assert!(html.contains(&format!(r#"sandbox="{EMBED_SANDBOX}""#)), "{html}");
    }

    #[test]
    fn skill_links_files_and_assets_resolve() {
        let rendered = render(
            "[by id](skill:git-commits), [by hash](#git-commits), [heading](skill:git-commits#undo), [file](03-git.md#git-commits), [stage](03-git.md)\n\n![A diagram](assets/diagram.png) ![](../assets/diagram.png)\n\n[gone](skill:nope) [gone file](04-x.md) ![Lost](assets/lost.png) [rel](images/x.png)\n",
        );
        let html = &rendered.html;
        assert_eq!(
            html.matches(r#"href="/roadmaps/backend/git/git-commits""#)
                .count(),
            3,
            "{html}"
        );
        assert!(
            html.contains(r##"href="/roadmaps/backend/git/git-commits#git-commits--undo""##),
            "{html}"
        );
        assert!(html.contains(r#"href="/roadmaps/backend/git""#), "{html}");
        assert_eq!(
            html.matches(r#"src="/assets/abc123/diagram.png""#).count(),
            2,
            "{html}"
        );
        let report = messages(&rendered);
        assert!(
            report.contains("3:W:image ../assets/diagram.png has no alt text"),
            "{report}"
        );
        assert!(report.contains("5:E:link to unknown skill \"nope\""), "{report}");
        assert!(report.contains("5:E:link 04-x.md points at nothing"), "{report}");
        assert!(
            report.contains("5:E:image assets/lost.png: there is no file assets/lost.png"),
            "{report}"
        );
        assert!(
            report.contains("5:W:relative link images/x.png points outside"),
            "{report}"
        );
        let remote = render("![Logo](https://example.com/logo.png)\n");
        assert!(messages(&remote).contains("1:W:image https://example.com/logo.png is on another site"));
    }

    #[test]
    fn unsupported_tags_and_attributes_are_reported() {
        let rendered = render(
            "<font color=\"red\">Hot</font> and <span data-x=\"1\" lang=\"fr\">chaud</span>\n\n<style>p{}</style>\n",
        );
        let html = &rendered.html;
        assert!(html.contains("Hot") && !html.contains("<font"), "{html}");
        assert!(html.contains(r#"<span lang="fr">chaud</span>"#), "{html}");
        assert!(!html.contains("p{}"), "{html}");
        let report = messages(&rendered);
        assert!(
            report.contains("1:W:removed the unsupported tag <font>"),
            "{report}"
        );
        assert!(
            report.contains("1:W:removed the attribute data-x= from <span>"),
            "{report}"
        );
        assert!(report.contains("3:W:removed <style>"), "{report}");
    }

    #[test]
    fn intro_scopes_never_clash_with_skill_ids() {
        let renderer = Renderer::new(RenderOptions::default());
        let stage = renderer.render("### Setup\n", &Scope::stage_intro("git"), &NoTargets);
        assert!(stage.html.contains(r#"id="stage_git--setup""#), "{}", stage.html);
        let roadmap = renderer.render("## Setup\n", &Scope::roadmap_intro("git"), &NoTargets);
        assert!(
            roadmap.html.contains(r#"id="roadmap_git--setup""#),
            "{}",
            roadmap.html
        );
    }
}
