//! Encryption at rest of what must not be read in Redis: idempotency answers (a kept answer
//! can hold a bearer token, a join's LiveKit token) and broadcast records (a stream key, RTMP
//! targets). Redis may be read by whoever reaches it, so these are sealed with AES-256-GCM
//! under a key derived (HKDF-SHA256) from a secret every instance shares, one key per use.
//! `ring` is already in the build (rustls uses it), so this costs no compile time.

use orchestrator_domain::ports::StoreError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// Distinguishes the sealing of idempotency answers from any other use of the secret.
pub(crate) const IDEMPOTENCY: &[u8] = b"livestream-orchestrator idempotency answers v1";
/// Distinguishes the sealing of broadcast records.
pub(crate) const BROADCAST: &[u8] = b"livestream-orchestrator broadcast records v1";

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
    /// A sealer keyed by `secret` for one use (`context`); `None` only if the key could not
    /// be derived (ring refuses nothing it is given here: 32 bytes of HKDF-SHA256 output for
    /// AES-256).
    pub(crate) fn new(secret: &[u8], context: &'static [u8]) -> Option<Self> {
        let prk = Salt::new(HKDF_SHA256, context).extract(secret);
        let mut key = [0u8; 32];
        prk.expand(&[context], &AES_256_GCM)
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
            .map_err(|_| StoreError::Corrupt("could not seal a record".into()))?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    /// The plaintext of [`Sealer::seal`]'s output.
    pub(crate) fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let unreadable = || {
            StoreError::Corrupt(
                "a sealed record that cannot be opened (was the secret changed?)".into(),
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
        let sealer = Sealer::new(b"the shared secret", IDEMPOTENCY).unwrap();

        let sealed = sealer.seal(token).unwrap();

        assert!(!sealed.windows(12).any(|w| w == b"bearer-token"));
        assert_eq!(sealer.open(&sealed).unwrap(), token);
        assert!(Sealer::new(b"another secret", IDEMPOTENCY)
            .unwrap()
            .open(&sealed)
            .is_err());
        assert!(
            Sealer::new(b"the shared secret", BROADCAST)
                .unwrap()
                .open(&sealed)
                .is_err(),
            "each use has a key of its own"
        );
        assert_ne!(
            sealer.seal(token).unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert!(sealer.open(b"short").is_err());
    }
}
