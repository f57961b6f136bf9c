//! Caller privacy: numbers are never stored, only a keyed hash (HMAC-SHA-256)
//! that lets the centre recognise a repeat caller without knowing who it is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The hash key's purpose, as recorded with its fingerprint.
pub const CALLER_HASH: &str = "caller-hash";
/// The number key's purpose, as recorded with its fingerprint.
pub const NUMBER_SEAL: &str = "number-seal";

/// The fingerprint of a key: hex of the first 16 bytes of
/// HMAC-SHA-256(key, label). It names the key without revealing it.
pub fn fingerprint(purpose: &str, key: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(b"senim key fingerprint: ");
            mac.update(purpose.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..16])
        }
        // HMAC accepts keys of any length; this branch cannot be taken.
        Err(_) => String::new(),
    }
}

/// The keyed hash of caller numbers.
#[derive(Clone)]
pub struct CallerHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for CallerHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerHasher(..)")
    }
}

impl CallerHasher {
    pub fn new(key: Vec<u8>) -> Self {
        CallerHasher { key }
    }

    /// Hash a caller's number. The number is normalised first (digits and a
    /// leading `+` only; Kazakh `8` trunk prefix as `+7`) so that the same
    /// phone gives the same hash whichever way the trunk writes it.
    pub fn hash(&self, number: &str) -> String {
        let normalised = normalise_number(number);
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this branch cannot be taken.
            Err(_) => return String::new(),
        };
        mac.update(normalised.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Encryption of the numbers kept for callbacks (XChaCha20-Poly1305): a
/// caller's number is stored only with a callback request, and only sealed.
#[derive(Clone)]
pub struct NumberSealer {
    cipher: chacha20poly1305::XChaCha20Poly1305,
    /// The first 16 hex digits of the key's fingerprint, written into every
    /// sealed number: which key sealed what is in the value itself.
    key_id: String,
}

impl std::fmt::Debug for NumberSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NumberSealer(..)")
    }
}

impl NumberSealer {
    /// From a 32-byte key (longer keys are cut to 32 bytes).
    pub fn new(key: &[u8]) -> Option<NumberSealer> {
        use chacha20poly1305::KeyInit;
        let key = key.get(..32)?;
        let key_id = fingerprint(NUMBER_SEAL, key).get(..16)?.to_string();
        chacha20poly1305::XChaCha20Poly1305::new_from_slice(key)
            .ok()
            .map(|cipher| NumberSealer { cipher, key_id })
    }

    /// The short id of the key (16 hex digits of its fingerprint).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `v2:`, the key's id, `:` and hex of a random nonce and the ciphertext.
    /// (`v1:` values, from before the key id, have no id and are still read.)
    pub fn seal(&self, number: &str) -> String {
        use chacha20poly1305::aead::Aead;
        let nonce: [u8; 24] = rand::random();
        match self.cipher.encrypt(
            chacha20poly1305::XNonce::from_slice(&nonce),
            number.as_bytes(),
        ) {
            Ok(ct) => format!(
                "v2:{}:{}{}",
                self.key_id,
                hex::encode(nonce),
                hex::encode(ct)
            ),
            // Encryption of a short message cannot fail; store nothing if it does.
            Err(_) => String::new(),
        }
    }

    /// The number back, or None for anything not sealed with this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        use chacha20poly1305::aead::Aead;
        let body = match sealed_key_id(sealed) {
            Some(id) if id != self.key_id => return None,
            Some(id) => sealed.get(3 + id.len() + 1..)?,
            None => sealed.strip_prefix("v1:")?,
        };
        let bytes = hex::decode(body).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), ct)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The id of the key that sealed a `v2:` value.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    let rest = sealed.strip_prefix("v2:")?;
    rest.split_once(':').map(|(id, _)| id)
}

/// Digits of a number, with `8XXXXXXXXXX` (11 digits, national format) as `+7XXXXXXXXXX`.
pub fn normalise_number(number: &str) -> String {
    let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() == 11 && digits.starts_with('8') {
        format!("+7{}", &digits[1..])
    } else if (digits.len() == 11 && digits.starts_with('7'))
        || number.trim_start().starts_with('+')
    {
        format!("+{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_phone_same_hash_whatever_the_format() {
        let h = CallerHasher::new(vec![7; 32]);
        assert_eq!(h.hash("+7 701 707 24 38"), h.hash("87017072438"));
        assert_eq!(h.hash("77017072438"), h.hash("+77017072438"));
        assert_ne!(h.hash("87017072438"), h.hash("87017072439"));
        assert_eq!(h.hash("1").len(), 32);
    }

    #[test]
    fn different_key_different_hash() {
        let a = CallerHasher::new(vec![1; 32]);
        let b = CallerHasher::new(vec![2; 32]);
        assert_ne!(a.hash("100"), b.hash("100"));
    }

    #[test]
    fn numbers_are_sealed_and_opened_only_with_the_key() {
        let a = NumberSealer::new(&[3; 32]).unwrap();
        let b = NumberSealer::new(&[4; 32]).unwrap();
        let s1 = a.seal("+77051234567");
        let s2 = a.seal("+77051234567");
        assert!(s1.starts_with(&format!("v2:{}:", a.key_id())));
        assert_eq!(sealed_key_id(&s1), Some(a.key_id()));
        assert_ne!(a.key_id(), b.key_id());
        assert!(!s1.contains("7051234567"));
        assert_ne!(s1, s2, "a fresh nonce every time");
        assert_eq!(a.open(&s1).as_deref(), Some("+77051234567"));
        assert_eq!(b.open(&s1), None);
        assert_eq!(a.open("v1:00"), None);
        assert_eq!(a.open("garbage"), None);
    }

    #[test]
    fn numbers_sealed_before_key_ids_are_still_read() {
        use chacha20poly1305::aead::Aead;
        use chacha20poly1305::KeyInit;
        let key = [5u8; 32];
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).unwrap();
        let nonce = [9u8; 24];
        let ct = cipher
            .encrypt(
                chacha20poly1305::XNonce::from_slice(&nonce),
                &b"+77051234567"[..],
            )
            .unwrap();
        let v1 = format!("v1:{}{}", hex::encode(nonce), hex::encode(ct));
        let sealer = NumberSealer::new(&key).unwrap();
        assert_eq!(sealer.open(&v1).as_deref(), Some("+77051234567"));
        assert_eq!(sealed_key_id(&v1), None);
    }
}
