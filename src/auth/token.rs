//! Random single-use tokens (invite links) and the hashes stored in their place.

use sha2::{Digest, Sha256};

/// 32 random bytes, hex-encoded: unguessable and URL-safe.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

/// What the database keeps: a leaked table does not leak working links.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
