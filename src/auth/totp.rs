//! Time-based one-time codes (RFC 6238, as authenticator apps use them), the enrolment QR code and recovery codes.

use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds each code lasts.
pub const STEP_SECS: u64 = 30;
/// Recovery codes handed out at a time.
pub const RECOVERY_CODES: usize = 10;

/// 160 random bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    random_bytes(20)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// The secret as apps take it when typed in: base32, no padding.
pub fn base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The secret back from [`base32`]; `None` if it is not one.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    Secret::Encoded(text.to_string()).to_bytes().ok()
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, secret.to_vec()).ok()
}

/// The code for Unix time `at`.
pub fn code_at(secret: &[u8], at: u64) -> Option<String> {
    totp(secret).map(|t| t.generate(at))
}

/// The time step whose code `code` is, allowing one step of clock drift either
/// way, so the caller can refuse a step already used.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret)?;
    let current = now / STEP_SECS;
    // The newest first, so a code valid twice (it happens) counts as the later step.
    (current.saturating_sub(1)..=current + 1)
        .rev()
        .find(|step| same(totp.generate(step * STEP_SECS).as_bytes(), code.as_bytes()))
        .and_then(|step| i64::try_from(step).ok())
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// The `otpauth://` address apps read from the QR code.
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    // The label's parts are path text: spaces as %20, not `+`.
    let label = format!("{}:{}", enc(issuer), enc(account)).replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        base32(secret),
        enc(issuer)
    )
}

/// `text` as a QR code in SVG, to put in a page as is: no XML prologue and no
/// `style` attribute (the CSP forbids inline styles).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code to scan with your authenticator app\" class=\"qr-code\" ",
        1,
    ))
}

/// Ten fresh recovery codes, 80 random bits each, as `abcd-efgh-ijkl-mnop`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let text = base32(&random_bytes(10)).to_lowercase();
            let groups: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
            groups.join("-")
        })
        .collect()
}

/// What is stored for a recovery code: case, spaces and dashes do not matter.
pub fn recovery_hash(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    super::token::hash(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_neighbours_only() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = i64::try_from(now / STEP_SECS).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(step));
        assert_eq!(matching_step(&secret, &code, now + STEP_SECS), Some(step));
        assert_eq!(matching_step(&secret, &format!(" {code} "), now), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP_SECS), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(from_base32(&base32(&secret)), Some(secret));
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0].len(), 19);
        assert_eq!(
            recovery_hash(&codes[0]),
            recovery_hash(&codes[0].to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(&codes[0]), recovery_hash(&codes[1]));
    }

    #[test]
    fn the_qr_code_has_no_style_attribute() {
        let svg = qr_svg(&otpauth_url("Pathway", "ada", &new_secret())).unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(!svg.contains("style"));
    }
}
