//! Secret value types. They own plaintext secrets in memory, wipe them on
//! drop and never print them: `Debug` and `Display` show `[redacted]`.
//! They must never implement `Serialize`, `Clone` into a plain `String`, or
//! any other path that copies the plaintext out silently; reading the value
//! is always an explicit `expose()` call.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes (a token set, a client secret, a PKCE verifier...).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when the value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The plaintext. Keep the borrow short; never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Interprets the bytes as UTF-8 text.
    pub fn into_string(mut self) -> Result<SecretString, SecretBytes> {
        let bytes = std::mem::take(&mut self.0);
        match String::from_utf8(bytes) {
            Ok(s) => Ok(SecretString(s)),
            Err(e) => Err(SecretBytes(e.into_bytes())),
        }
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl From<SecretString> for SecretBytes {
    fn from(mut s: SecretString) -> Self {
        Self(std::mem::take(&mut s.0).into_bytes())
    }
}

/// Equality in time independent of where the bytes differ (lengths are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for SecretBytes {}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Secret text (an access token, a PAT, a client secret...).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Takes ownership of `s`; it is wiped when the value drops.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The plaintext. Keep the borrow short; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_as_redacted() {
        let s = SecretString::from("ghp_supersecret");
        let b = SecretBytes::from(&b"refresh-token"[..]);
        assert_eq!(
            format!("{s} {s:?} {b} {b:?}"),
            "[redacted] [redacted] [redacted] [redacted]"
        );
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretString::from("abc"), SecretString::from("abc"));
        assert_ne!(SecretString::from("abc"), SecretString::from("abd"));
        assert_ne!(
            SecretBytes::from(&b"ab"[..]),
            SecretBytes::from(&b"abc"[..])
        );
    }

    #[test]
    fn bytes_convert_to_string_and_back() {
        let b = SecretBytes::from(&b"token"[..]);
        let s = b.into_string().unwrap();
        assert_eq!(s.expose(), "token");
        let b: SecretBytes = s.into();
        assert_eq!(b.expose(), b"token");
    }
}
