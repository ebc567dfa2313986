//! What usernames and display names may be: one rule for sign-up, setup, profile edits and the CLI.

/// Lowercase letters, digits, `_` and `-`; 3 to 32 characters.
pub fn username_problem(username: &str) -> Option<String> {
    let valid_chars = username
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !(3..=32).contains(&username.len()) {
        Some("Use 3 to 32 characters.".into())
    } else if !valid_chars || !username.as_bytes()[0].is_ascii_alphanumeric() {
        Some("Use lowercase letters, digits, - and _, starting with a letter or digit.".into())
    } else {
        None
    }
}

pub fn display_name_problem(name: &str) -> Option<String> {
    match name.chars().count() {
        0 => Some("Enter the name other people will see.".into()),
        81.. => Some("Use at most 80 characters.".into()),
        _ => None,
    }
}
