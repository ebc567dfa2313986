//! Password hashing (argon2id, off the async workers) and strength rules.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use zxcvbn::Score;

pub const MIN_LENGTH: usize = 10;
/// Long enough for any passphrase, short enough that hashing stays cheap.
pub const MAX_LENGTH: usize = 256;

/// Hashes with argon2id in a blocking thread: hashing takes tens of milliseconds.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| anyhow::anyhow!("hashing failed: {error}"))
    })
    .await?
}

/// Stored instead of a hash for accounts made through single sign-on: no password matches it.
pub const NO_PASSWORD: &str = "!no-password";

/// Checks `password` against a stored hash, in a blocking thread.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    if stored == NO_PASSWORD {
        // As slow as a real check, so the answer does not tell such accounts apart.
        let _ = Box::pin(verify(password, decoy_hash())).await;
        return Ok(false);
    }
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&stored).map_err(|error| anyhow::anyhow!("bad stored hash: {error}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A hash of a random password, verified against when the username is
/// unknown, so response time does not reveal which usernames exist.
pub fn decoy_hash() -> String {
    static DECOY: LazyLock<String> = LazyLock::new(|| {
        Argon2::default()
            .hash_password(super::token::generate().as_bytes())
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    });
    DECOY.clone()
}

/// Why a new password is refused, in words for the form; `None` if it is fine.
pub fn weakness(password: &str, personal: &[&str]) -> Option<String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Some(format!(
            "Use at least {MIN_LENGTH} characters (this one has {length})."
        ));
    }
    if length > MAX_LENGTH {
        return Some(format!("Use at most {MAX_LENGTH} characters."));
    }
    let estimate = zxcvbn::zxcvbn(password, personal);
    if estimate.score() >= Score::Three {
        return None;
    }
    let mut message = String::from("This password is too easy to guess.");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            message.push_str(&format!(" {warning}."));
        }
        for suggestion in feedback.suggestions() {
            message.push_str(&format!(" {suggestion}"));
        }
    }
    if !message.ends_with("phrase.") {
        message.push_str(" A few unrelated words make a strong, memorable passphrase.");
    }
    Some(message.replace("..", "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_personal_passwords_are_refused() {
        assert!(weakness("short", &[]).unwrap().contains("at least 10"));
        assert!(weakness("password123", &[]).unwrap().contains("too easy"));
        assert!(weakness("aaaaaaaaaaaa", &[]).is_some());
        assert!(weakness("ada-lovelace-1815", &["ada-lovelace-1815"]).is_some());
        assert!(weakness("correct horse battery staple lamp", &[]).is_none());
    }

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id() {
        let stored = hash("correct horse battery staple".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery staple".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), stored).await.unwrap());
    }

    #[tokio::test]
    async fn the_decoy_hash_is_a_real_hash() {
        assert!(!verify("anything".into(), decoy_hash()).await.unwrap());
    }
}
