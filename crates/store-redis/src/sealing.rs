//! Encryption at rest of idempotency answers. A kept answer can hold a bearer token (a join's
//! LiveKit token); Redis keeps it for a day and may be read by whoever reaches Redis, so it is
//! sealed with AES-256-GCM under a key derived (HKDF-SHA256) from a secret every instance
//! shares. `ring` is already in the build (rustls uses it), so this costs no compile time.

use orchestrator_domain::ports::StoreError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// Distinguishes this use of the shared secret from any other.
const CONTEXT: &[u8] = b"livestream-orchestrator idempotency answers v1";

/// Seals and opens answers with one key.
pub(crate) struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer keyed by `secret`; `None` only if the key could not be derived (ring refuses
    /// nothing it is given here: 32 bytes of HKDF-SHA256 output for AES-256).
    pub(crate) fn new(secret: &[u8]) -> Option<Self> {
        let prk = Salt::new(HKDF_SHA256, CONTEXT).extract(secret);
        let mut key = [0u8; 32];
        prk.expand(&[CONTEXT], &AES_256_GCM)
            .ok()?
            .fill(&mut key)
            .ok()?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).ok()?);
        Some(Self {
            key,
            random: SystemRandom::new(),
        })
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| StoreError::Unavailable("no randomness for sealing".into()))?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .map_err(|_| StoreError::Corrupt("could not seal an idempotency answer".into()))?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    /// The plaintext of [`Sealer::seal`]'s output.
    pub(crate) fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let unreadable = || {
            StoreError::Corrupt(
                "an idempotency answer that cannot be opened (was the secret changed?)".into(),
            )
        };
        if sealed.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut buffer = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut buffer)
            .map_err(|_| unreadable())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_answer_opens_only_with_the_same_secret_and_shows_nothing_in_clear() {
        let token = b"{\"token\":\"eyJhbGciOiJIUzI1NiJ9.secret-bearer-token\"}";
        let sealer = Sealer::new(b"the shared secret").unwrap();

        let sealed = sealer.seal(token).unwrap();

        assert!(!sealed.windows(12).any(|w| w == b"bearer-token"));
        assert_eq!(sealer.open(&sealed).unwrap(), token);
        assert!(Sealer::new(b"another secret")
            .unwrap()
            .open(&sealed)
            .is_err());
        assert_ne!(
            sealer.seal(token).unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert!(sealer.open(b"short").is_err());
    }
}
