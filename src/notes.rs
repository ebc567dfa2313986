//! What a learner's notes and evidence links may hold: the limits both the forms and the progress import check.

/// Notes longer than this are refused: they belong in a document of their own.
pub const MAX_NOTE_CHARS: usize = 20_000;
pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_URL_CHARS: usize = 2_000;

/// A link a learner may attach: http or https, with a host.
pub fn evidence_url_problem(raw: &str) -> Option<String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Some(format!("Use a link of at most {MAX_URL_CHARS} characters."));
    }
    match url::Url::parse(raw) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            None
        }
        _ => Some("Enter a full web address starting with https:// or http://.".into()),
    }
}
