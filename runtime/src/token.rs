//! Signed tokens, like Phoenix.Token: a controller signs data (a user id)
//! for a client that cannot send the session cookie (a mobile app, a page
//! on another origin); the client passes the token back, as a socket's
//! connect param; `on_connect` verifies it.
//!
//! A token is `base64url(JSON {"data": ..., "signed_at": unix ms}) "."
//! base64url(HMAC-SHA256)`: readable by whoever holds it, unforgeable
//! without the secret, and refused once older than the `max_age` given to
//! [`verify`]. It is signed for a purpose (`"user socket"`, `"invite"`,
//! Phoenix.Token's salt), which `verify` must name: a token signed for one
//! use is refused for any other. Keep the secret out of the code (an environment variable),
//! at least 32 bytes long. maze never logs tokens or puts them in metrics.
//!
//! ```
//! use maze::token;
//! use std::time::Duration;
//!
//! let secret = "a secret of at least thirty-two bytes, from the environment";
//! let token = token::sign(secret, "user socket", &42);
//! let user_id: i64 = token::verify(secret, "user socket", &token, Duration::from_secs(3600)).unwrap();
//! assert_eq!(user_id, 42);
//! let hour = Duration::from_secs(3600);
//! assert_eq!(token::verify::<i64>("another secret", "user socket", &token, hour), Err(token::TokenError::Invalid));
//! assert_eq!(token::verify::<i64>(secret, "password reset", &token, hour), Err(token::TokenError::Invalid));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a token was refused.
///
/// ```
/// let refused = maze::token::verify::<i64>("secret", "user socket", "not a token", std::time::Duration::from_secs(60));
/// assert_eq!(refused, Err(maze::token::TokenError::Invalid));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not signed with this secret for this purpose, tampered with, or not a token at all.
    Invalid,
    /// Signed with this secret, but longer ago than `max_age`.
    Expired,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Invalid => "invalid token",
            TokenError::Expired => "expired token",
        })
    }
}

impl std::error::Error for TokenError {}

/// Signs `data` with `secret` for `purpose`, as of now.
///
/// ```
/// let token = maze::token::sign("secret", "user socket", &serde_json::json!({"user_id": 42}));
/// assert_eq!(token.split('.').count(), 2);
/// ```
pub fn sign(secret: &str, purpose: &str, data: &impl Serialize) -> String {
    sign_at(secret, purpose, data, SystemTime::now())
}

/// Signs `data` with `secret` as if at `signed_at` (for tokens that should
/// expire sooner, and for tests).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
/// let token = maze::token::sign_at("secret", "user socket", &42, an_hour_ago);
/// let refused = maze::token::verify::<i64>("secret", "user socket", &token, Duration::from_secs(60));
/// assert_eq!(refused, Err(maze::token::TokenError::Expired));
/// ```
pub fn sign_at(secret: &str, purpose: &str, data: &impl Serialize, signed_at: SystemTime) -> String {
    let millis = signed_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let data = serde_json::to_value(data).expect("token data serializes to JSON");
    let body = URL_SAFE_NO_PAD.encode(json!({"data": data, "signed_at": millis}).to_string());
    let signature = URL_SAFE_NO_PAD.encode(mac(secret, purpose, &body).finalize().into_bytes());
    format!("{body}.{signature}")
}

/// The data of `token` if `secret` signed it for `purpose` at most `max_age` ago.
///
/// ```
/// # use std::time::Duration;
/// let token = maze::token::sign("secret", "user socket", &"user:42");
/// let data: String = maze::token::verify("secret", "user socket", &token, Duration::from_secs(60)).unwrap();
/// assert_eq!(data, "user:42");
/// ```
pub fn verify<T: DeserializeOwned>(
    secret: &str,
    purpose: &str,
    token: &str,
    max_age: Duration,
) -> Result<T, TokenError> {
    let (body, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Invalid)?;
    // Constant-time comparison, inside `verify_slice`.
    mac(secret, purpose, body).verify_slice(&signature).map_err(|_| TokenError::Invalid)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Invalid)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| TokenError::Invalid)?;
    let signed_at =
        UNIX_EPOCH + Duration::from_millis(body["signed_at"].as_u64().ok_or(TokenError::Invalid)?);
    let age = SystemTime::now().duration_since(signed_at).unwrap_or_default();
    if age > max_age {
        return Err(TokenError::Expired);
    }
    serde_json::from_value(body["data"].clone()).map_err(|_| TokenError::Invalid)
}

/// The MAC of `body` for `purpose` (length-prefixed: no purpose and body
/// can pass for another pair).
fn mac(secret: &str, purpose: &str, body: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac.update(body.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a secret of at least thirty-two bytes";
    const HOUR: Duration = Duration::from_secs(3600);
    const PURPOSE: &str = "user socket";

    #[test]
    fn a_fresh_token_verifies_and_carries_its_data() {
        let token = sign(SECRET, PURPOSE, &json!({"user_id": 7}));
        assert_eq!(verify::<Value>(SECRET, PURPOSE, &token, HOUR), Ok(json!({"user_id": 7})));
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let token = sign(SECRET, PURPOSE, &7);
        let (body, signature) = token.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(json!({"data": 8, "signed_at": u64::MAX}).to_string());
        for bad in [
            format!("{forged_body}.{signature}"),
            format!("{body}.x{signature}"),
            body.to_string(),
            String::new(),
        ] {
            assert_eq!(verify::<i64>(SECRET, PURPOSE, &bad, HOUR), Err(TokenError::Invalid), "{bad}");
        }
        assert_eq!(
            verify::<i64>("another secret entirely, 32 bytes+", PURPOSE, &token, HOUR),
            Err(TokenError::Invalid)
        );
        let old = sign_at(SECRET, PURPOSE, &7, SystemTime::now() - 2 * HOUR);
        assert_eq!(verify::<i64>(SECRET, PURPOSE, &old, HOUR), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_signed_for_one_purpose_is_refused_for_another() {
        let invite = sign(SECRET, "invite", &7);
        assert_eq!(verify::<i64>(SECRET, "invite", &invite, HOUR), Ok(7));
        for other in ["user socket", "invit", "invite ", ""] {
            assert_eq!(verify::<i64>(SECRET, other, &invite, HOUR), Err(TokenError::Invalid), "{other:?}");
        }
    }
}
