//! Operator access: who may call the API and what they may do, the one policy REST, the
//! WebSocket handshake and gRPC all ask.
//!
//! Operators hold API keys. The service is configured with each key's SHA-256 only
//! (`sha256:<64 hex digits>`, optionally `:read` for a read-only key), so neither a
//! configuration file nor the process's memory holds a usable key, and a presented key is
//! hashed and compared with every configured hash in constant time.
//!
//! Browsers cannot set headers on a WebSocket, so a key can be traded for a short-lived
//! [`Ticket`]: stateless and signed (HMAC-SHA256 under a key derived from a secret every
//! instance shares, bound to the key it was issued for), so any instance of a deployment can
//! verify it, and removing a key from the configuration revokes its tickets too.
//!
//! With no key configured, access is open (development): every caller is an anonymous
//! operator with every scope.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do. `Write` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read streams, participants, state and metrics; follow events.
    Read,
    /// Everything: create, update, stop, join and leave too.
    Write,
}

impl Scope {
    /// Whether a holder of this scope may do what needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::Write, _) | (Scope::Read, Scope::Read) => true,
            (Scope::Read, Scope::Write) => false,
        }
    }

    /// `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    fn narrowest(self, other: Scope) -> Scope {
        if self.allows(other) {
            other
        } else {
            self
        }
    }
}

/// Names a configured key without revealing it (the first 12 hex digits of its SHA-256), for
/// logs, limits and tickets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is calling: a configured key (by id) and what it may do, or, when access is open, an
/// anonymous operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    key: Option<KeyId>,
    scope: Scope,
}

impl Principal {
    /// The caller when no key is configured: anonymous, every scope.
    pub fn anonymous() -> Self {
        Self {
            key: None,
            scope: Scope::Write,
        }
    }

    /// The key the caller presented; `None` when access is open.
    pub fn key(&self) -> Option<&KeyId> {
        self.key.as_ref()
    }

    /// What the caller may do.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// One configured key: its SHA-256 and its scope. `Debug` and `Display` never show more than
/// the [`KeyId`] and the entry.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEntry {
    hash: [u8; 32],
    scope: Scope,
}

/// A configured key entry is not `sha256:<64 hex digits>[:read|:write]`. The messages never
/// echo the entry: a plain key pasted by mistake must not reach a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKeyEntry {
    /// It does not start with `sha256:` (a plain key, perhaps).
    #[error(
        "an API key entry must be sha256:<hex of the key's SHA-256>[:read], not a plain key \
         (`orchestrator generate-keys` prints both)"
    )]
    NotSha256,
    /// The hash is not 64 hex digits.
    #[error("the hash of an API key entry must be 64 hex digits (a SHA-256)")]
    BadHash,
    /// The suffix is neither `read` nor `write`.
    #[error("the scope of an API key entry must be `read` or `write`")]
    UnknownScope,
}

impl KeyEntry {
    /// The entry of a plain key (what `generate-keys` prints, and tests use).
    pub fn for_key(key: &str, scope: Scope) -> Self {
        Self {
            hash: Sha256::digest(key.as_bytes()).into(),
            scope,
        }
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        KeyId(hex(&self.hash[..6]))
    }

    /// What the key may do.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The entry with the hash cut to its id, for printing a configuration.
    pub fn redacted(&self) -> String {
        let scope = match self.scope {
            Scope::Read => ":read",
            Scope::Write => "",
        };
        format!("sha256:{}…{scope}", self.id())
    }
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id())
            .field("scope", &self.scope)
            .finish()
    }
}

impl fmt::Display for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex(&self.hash))?;
        match self.scope {
            Scope::Read => f.write_str(":read"),
            Scope::Write => Ok(()),
        }
    }
}

impl FromStr for KeyEntry {
    type Err = InvalidKeyEntry;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let rest = raw
            .trim()
            .strip_prefix("sha256:")
            .ok_or(InvalidKeyEntry::NotSha256)?;
        let (digest, scope) = match rest.split_once(':') {
            Some((digest, "read")) => (digest, Scope::Read),
            Some((digest, "write")) => (digest, Scope::Write),
            Some(_) => return Err(InvalidKeyEntry::UnknownScope),
            None => (rest, Scope::Write),
        };
        let hash = unhex(digest).ok_or(InvalidKeyEntry::BadHash)?;
        Ok(Self { hash, scope })
    }
}

/// Why a caller is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No credentials at all.
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    Missing,
    /// An `Authorization` value that is not `Bearer <key>`.
    #[error("the Authorization header must be `Bearer <key>`")]
    Malformed,
    /// A key that is not configured.
    #[error("the API key is not valid")]
    InvalidKey,
    /// A read-only key asked to change something.
    #[error("this API key is read-only; changes need a key with the write scope")]
    Forbidden,
    /// A WebSocket ticket that was not issued by this deployment, or whose key was removed.
    #[error("the WebSocket ticket is not valid")]
    InvalidTicket,
    /// A WebSocket ticket past its lifetime.
    #[error("the WebSocket ticket expired; get a new one from POST /ws-tickets")]
    ExpiredTicket,
}

/// A short-lived WebSocket ticket: pass `value` as `?ticket=` on the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket (URL-safe text).
    pub value: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// The access policy of a deployment: its keys and how tickets are signed.
#[derive(Clone)]
pub struct Access {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Vec<KeyEntry>,
    /// HMAC-SHA256 keyed with the ticket key, cloned for each ticket.
    ticket_mac: HmacSha256,
    ticket_ttl: Duration,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("keys", &self.inner.keys)
            .field("ticket_ttl", &self.inner.ticket_ttl)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Separates the ticket key from every other use of the shared secret.
const TICKET_KEY_CONTEXT: &[u8] = b"livestream-orchestrator/ws-ticket/v1\0";

impl Access {
    /// The policy of `keys` (none: open). Tickets are signed with a key derived from
    /// `shared_secret`, which every instance of a deployment must share, and live `ticket_ttl`.
    pub fn new(keys: Vec<KeyEntry>, shared_secret: &[u8], ticket_ttl: Duration) -> Self {
        let mut derive = Sha256::new();
        derive.update(TICKET_KEY_CONTEXT);
        derive.update(shared_secret);
        // HMAC pads a key shorter than its block (64 bytes) with zeros: the 32-byte derived key,
        // padded, is the same HMAC key, and the fixed size makes the constructor infallible.
        let mut ticket_key = [0u8; 64];
        ticket_key[..32].copy_from_slice(&derive.finalize());
        Self {
            inner: Arc::new(Inner {
                keys,
                ticket_mac: <HmacSha256 as KeyInit>::new(&ticket_key.into()),
                ticket_ttl,
            }),
        }
    }

    /// Open access (no key): for tests and embedding.
    pub fn open() -> Self {
        Self::new(Vec::new(), b"", Duration::from_secs(30))
    }

    /// Whether no key is configured (everyone may do everything).
    pub fn is_open(&self) -> bool {
        self.inner.keys.is_empty()
    }

    /// How many keys are configured.
    pub fn key_count(&self) -> usize {
        self.inner.keys.len()
    }

    /// How long a ticket lives.
    pub fn ticket_ttl(&self) -> Duration {
        self.inner.ticket_ttl
    }

    /// The caller behind an `Authorization` value (`Bearer <key>`).
    ///
    /// # Errors
    /// [`AccessError::Missing`], [`AccessError::Malformed`] or [`AccessError::InvalidKey`];
    /// never when access is open.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AccessError> {
        if self.is_open() {
            return Ok(Principal::anonymous());
        }
        let value = authorization.ok_or(AccessError::Missing)?.trim();
        let (scheme, key) = value.split_once(' ').ok_or(AccessError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
            return Err(AccessError::Malformed);
        }
        let entry = self.find(key.trim()).ok_or(AccessError::InvalidKey)?;
        Ok(Principal {
            key: Some(entry.id()),
            scope: entry.scope,
        })
    }

    /// The caller behind `authorization`, if it may do what needs `needed`.
    ///
    /// # Errors
    /// As [`Access::authenticate`], and [`AccessError::Forbidden`] for a key without `needed`.
    pub fn check(
        &self,
        authorization: Option<&str>,
        needed: Scope,
    ) -> Result<Principal, AccessError> {
        let principal = self.authenticate(authorization)?;
        if principal.scope.allows(needed) {
            Ok(principal)
        } else {
            Err(AccessError::Forbidden)
        }
    }

    /// Hashes the presented key and compares it with every configured hash, in constant time
    /// and without stopping at a match, so timing tells nothing about the keys.
    fn find(&self, key: &str) -> Option<&KeyEntry> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for entry in &self.inner.keys {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
    }

    /// A ticket for `principal`, valid for the ticket lifetime from `now`.
    pub fn issue_ticket(&self, principal: &Principal, now: DateTime<Utc>) -> Ticket {
        let ttl = chrono::Duration::from_std(self.inner.ticket_ttl)
            .unwrap_or_else(|_| chrono::Duration::seconds(30));
        let expires_at = now + ttl;
        let claims = Claims {
            scope: principal.scope,
            key: principal.key.clone(),
            expires: expires_at.timestamp(),
        };
        let mac = self.sign(&claims);
        Ticket {
            value: format!("{}.{}", claims.encode(), hex(&mac)),
            expires_at,
        }
    }

    /// The caller a ticket was issued to.
    ///
    /// # Errors
    /// [`AccessError::InvalidTicket`] (not ours, tampered with, or its key is no longer
    /// configured) or [`AccessError::ExpiredTicket`].
    pub fn redeem_ticket(
        &self,
        ticket: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AccessError> {
        let (encoded, mac) = ticket.rsplit_once('.').ok_or(AccessError::InvalidTicket)?;
        let claims = Claims::decode(encoded).ok_or(AccessError::InvalidTicket)?;
        let mac = unhex(mac).ok_or(AccessError::InvalidTicket)?;
        let entry = match &claims.key {
            Some(id) => Some(
                self.inner
                    .keys
                    .iter()
                    .find(|entry| &entry.id() == id)
                    .ok_or(AccessError::InvalidTicket)?,
            ),
            None if self.is_open() => None,
            None => return Err(AccessError::InvalidTicket),
        };
        self.mac(&claims, entry)
            .verify_slice(&mac)
            .map_err(|_| AccessError::InvalidTicket)?;
        let ttl = i64::try_from(self.inner.ticket_ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.expires > now.timestamp().saturating_add(ttl) {
            // Signed by us, yet valid for longer than we issue: not one of our tickets.
            return Err(AccessError::InvalidTicket);
        }
        if now.timestamp() > claims.expires {
            return Err(AccessError::ExpiredTicket);
        }
        // A key narrowed to read since the ticket was issued reads only.
        let scope = entry.map_or(claims.scope, |entry| entry.scope.narrowest(claims.scope));
        Ok(Principal {
            key: claims.key,
            scope,
        })
    }

    fn entry(&self, id: &KeyId) -> Option<&KeyEntry> {
        self.inner.keys.iter().find(|entry| &entry.id() == id)
    }

    fn sign(&self, claims: &Claims) -> [u8; 32] {
        let entry = claims.key.as_ref().and_then(|id| self.entry(id));
        self.mac(claims, entry).finalize().into_bytes().into()
    }

    /// The MAC over the claims and the hash of the key they name, so a ticket is bound to a
    /// key that is still configured.
    fn mac(&self, claims: &Claims, entry: Option<&KeyEntry>) -> HmacSha256 {
        let mut mac = self.inner.ticket_mac.clone();
        mac.update(claims.encode().as_bytes());
        if let Some(entry) = entry {
            mac.update(&entry.hash);
        }
        mac
    }
}

/// What a ticket says: `<r|w>.<key id or ->.<expiry, unix seconds>`.
struct Claims {
    scope: Scope,
    key: Option<KeyId>,
    expires: i64,
}

impl Claims {
    fn encode(&self) -> String {
        let scope = match self.scope {
            Scope::Read => "r",
            Scope::Write => "w",
        };
        let key = self.key.as_ref().map_or("-", KeyId::as_str);
        format!("{scope}.{key}.{}", self.expires)
    }

    fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let scope = match parts.next()? {
            "r" => Scope::Read,
            "w" => Scope::Write,
            _ => return None,
        };
        let key = match parts.next()? {
            "-" => None,
            id if id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(KeyId(id.to_ascii_lowercase()))
            }
            _ => return None,
        };
        let expires = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            scope,
            key,
            expires,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(raw: &str) -> Option<[u8; 32]> {
    if raw.len() != 64 || !raw.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
