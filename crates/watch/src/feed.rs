//! The signed taint feed: one JSON line per notice, each signed with ed25519 and chained to
//! the line before it by SHA-256, so an exchange can check the whole feed offline with
//! nothing but the public key, and act on the listing it folds to.
//!
//! Coincheck's 2018 "warning mosaic" tagged tainted NEM accounts on chain, where anyone could
//! copy the tag and no one could revoke it. This feed is the other way round: only the key
//! holder can list, every listing says why and how to appeal, and revocations are notices too.
//!
//! Verification is deliberately strict: a line must be exactly the canonical serialisation of
//! what was signed, signed by the key the subscriber was given (never the key the line names),
//! numbered without gaps and chained to its predecessor. Anything else names the line.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Put in front of every signed notice so a feed signature can never be replayed as a
/// signature over some other message format that uses the same key, nor the reverse.
pub const DOMAIN: &[u8] = b"ashiato-feed-v1\n";

/// What a notice does to an address's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Update,
    Revoke,
}

/// One feed entry, exactly what is signed.
// Unknown fields are refused because they would ride along in the line without being signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    pub action: Action,
    /// "nem", "bitcoin", "ethereum".
    pub chain: String,
    pub address: String,
    pub asset: String,
    pub incident: String,
    pub policy: String,
    /// Tainted value received, exact base units as a decimal string (u128 does not fit JSON numbers).
    pub taint: String,
    pub block: u64,
    pub tx: String,
    /// RFC 3339 UTC (the block time of the movement the notice is about).
    pub time: String,
    /// Transaction ids that carried the taint, seed side first.
    pub path: Vec<String>,
    /// Why: for add/update what happened; for revoke the reason (e.g. "reorganisation: block 12
    /// left the chain", "appeal granted: …").
    pub reason: String,
    /// How an innocent recipient appeals (URL or contact), copied from the feed's configuration.
    pub appeal: String,
    /// Hex SHA-256 of the previous signed line exactly as written (empty for seq 1): a hash chain
    /// so a subscriber detects a dropped, reordered or altered entry.
    pub prev: String,
}

/// A notice with its signature, one JSON line in the feed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedNotice {
    pub notice: Notice,
    /// Hex public key.
    pub key: String,
    /// Hex ed25519 signature over `signing_bytes(&notice)`.
    pub sig: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("key file {}: {why}", path.display())]
    BadKey { path: PathBuf, why: String },
    #[error("feed public key: {why}")]
    BadPublicKey { why: String },
    #[error("feed line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("feed line {line}: cannot read: {source}")]
    Read { line: usize, source: io::Error },
}

/// The bytes an ed25519 signature covers: [`DOMAIN`] (`b"ashiato-feed-v1\n"`) followed by
/// `serde_json::to_vec(n)`.
///
/// That JSON is canonical without any extra rules: serde writes struct fields in declaration
/// order, with no whitespace, and escapes strings the same way every time, so signer and
/// verifier always produce the same bytes for the same notice. Changing the field order or
/// adding a field is therefore a format change and needs a new [`DOMAIN`].
pub fn signing_bytes(n: &Notice) -> Vec<u8> {
    let mut bytes = DOMAIN.to_vec();
    // Only strings, integers and a unit enum: serde_json has no way to fail on these.
    serde_json::to_writer(&mut bytes, n).expect("a Notice always serialises");
    bytes
}

/// One feed line for `s`: compact JSON, no trailing newline.
pub fn line(s: &SignedNotice) -> String {
    // As for `signing_bytes`: nothing in a SignedNotice can fail to serialise.
    serde_json::to_string(s).expect("a SignedNotice always serialises")
}

/// The value the next notice's `prev` carries: hex SHA-256 of the line's bytes as written.
pub fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// The feed's signing key. Debug shows only the public half.
pub struct FeedKey(SigningKey);

impl fmt::Debug for FeedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl FeedKey {
    /// Loads the secret key at `path` (64 hex characters and a newline), or creates one on
    /// first run; `true` means it was created. The public key is kept next to it in
    /// `<path>.pub` for handing to subscribers.
    ///
    /// A key file that cannot be read as a key is an error, never replaced: replacing it would
    /// silently break every subscriber's verification. The same goes for a `.pub` file that
    /// disagrees with the secret, since that is the key subscribers may have been given.
    pub fn load_or_create(path: &Path) -> Result<(FeedKey, bool), FeedError> {
        match fs::read(path) {
            Ok(bytes) => {
                let secret = parse_secret(&bytes).map_err(|why| FeedError::BadKey {
                    path: path.to_path_buf(),
                    why,
                })?;
                let key = FeedKey(SigningKey::from_bytes(&secret));
                key.ensure_public_file(path)?;
                Ok((key, false))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let secret: [u8; 32] = rand::random();
                let key = FeedKey(SigningKey::from_bytes(&secret));
                if let Some(dir) = parent_dir(path) {
                    fs::create_dir_all(dir).map_err(|source| FeedError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                // Secret first: a crash between the two writes leaves a secret without a .pub,
                // which the next load repairs; the other order would leave a .pub for a key
                // that never existed.
                write_atomic(path, format!("{}\n", hex::encode(secret)).as_bytes(), 0o600)?;
                write_atomic(
                    &public_path(path),
                    format!("{}\n", key.public_hex()).as_bytes(),
                    0o644,
                )?;
                Ok((key, true))
            }
            Err(source) => Err(FeedError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    pub fn sign(&self, notice: Notice) -> SignedNotice {
        let sig = self.0.sign(&signing_bytes(&notice));
        SignedNotice {
            notice,
            key: self.public_hex(),
            sig: hex::encode(sig.to_bytes()),
        }
    }

    fn ensure_public_file(&self, secret_path: &Path) -> Result<(), FeedError> {
        let pub_path = public_path(secret_path);
        let want = self.public_hex();
        match fs::read(&pub_path) {
            Ok(bytes) => {
                let have = String::from_utf8_lossy(&bytes);
                if have.trim().eq_ignore_ascii_case(&want) {
                    Ok(())
                } else {
                    Err(FeedError::BadKey {
                        path: pub_path,
                        why: format!(
                            "holds {:?} but the secret key's public key is {want}; \
                             delete it to have it rewritten",
                            have.trim()
                        ),
                    })
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&pub_path, format!("{want}\n").as_bytes(), 0o644)
            }
            Err(source) => Err(FeedError::Io {
                path: pub_path,
                source,
            }),
        }
    }
}

fn public_path(secret_path: &Path) -> PathBuf {
    let mut s = secret_path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `None` for a bare file name, which lives in the current directory.
fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|d| !d.as_os_str().is_empty())
}

fn parse_secret(bytes: &[u8]) -> Result<[u8; 32], String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text (expected 64 hex characters)")?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    decode_hex::<32>(text)
}

fn decode_hex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.len() != 2 * N {
        return Err(format!(
            "expected {} hex characters, found {} characters",
            2 * N,
            text.chars().count()
        ));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|e| format!("not hex: {e}"))?;
    Ok(out)
}

/// Writes `contents` so that `path` holds either its old contents or all of the new ones,
/// even across a crash: temp file in the same directory (rename is only atomic within one
/// file system), fsync, rename, fsync the directory so the rename itself is durable.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FeedError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| FeedError::Io { path: p, source }
    };
    let dir = parent_dir(path).unwrap_or(Path::new("."));
    let Some(name) = path.file_name() else {
        return Err(FeedError::BadKey {
            path: path.to_path_buf(),
            why: "not a file name".into(),
        });
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    // A leftover from a crashed run with the same pid may exist with looser permissions;
    // `mode` only applies to a newly created file, so it must go. Absence is the usual case.
    let _ = fs::remove_file(&tmp);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;

    let written = (|| {
        let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
        f.write_all(contents).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

/// Numbers and chains the notices a feed writer appends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedWriter {
    seq: u64,
    hash: String,
}

impl FeedWriter {
    /// For an empty feed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues after `last_line`, the feed's last line as written (`None` for an empty
    /// feed). Only reads its `seq`: verify the file with [`verify_feed`] (and use
    /// [`FeedWriter::resume`]) when it may have been touched by anything else.
    pub fn after(last_line: Option<&str>) -> Result<Self, String> {
        let Some(text) = last_line else {
            return Ok(Self::new());
        };
        let s: SignedNotice =
            serde_json::from_str(text).map_err(|e| format!("last feed line: {e}"))?;
        Ok(FeedWriter {
            seq: s.notice.seq,
            hash: line_hash(text),
        })
    }

    /// Continues after a verified feed.
    pub fn resume(listing: &Listing) -> Self {
        FeedWriter {
            seq: listing.notices,
            hash: listing.last_hash.clone(),
        }
    }

    /// `seq` and `prev` for the next notice.
    pub fn next(&self) -> (u64, String) {
        (self.seq + 1, self.hash.clone())
    }

    /// Records `line` (built from [`FeedWriter::next`]) as written.
    pub fn push(&mut self, line: &str) {
        self.seq += 1;
        self.hash = line_hash(line);
    }
}

/// (chain, address, asset, incident): one listing. The same address can be listed for
/// several incidents or assets, each revoked on its own.
pub type ListingKey = (String, String, String, String);

/// The state a verified feed folds to: what an exchange acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Currently listed entries, each with the notice that last added or updated it.
    pub entries: BTreeMap<ListingKey, Notice>,
    /// Notices (lines) verified.
    pub notices: u64,
    /// [`line_hash`] of the last line, empty for an empty feed: the `prev` the next notice
    /// must carry, and what a subscriber can pin to detect a rewritten history.
    pub last_hash: String,
}

impl Listing {
    /// Checks `n` continues the feed (seq and prev), then folds it in. `text` is its line.
    fn apply(&mut self, n: Notice, text: &str) -> Result<(), String> {
        let want = self.notices + 1;
        if n.seq != want {
            return Err(format!(
                "seq {} where {want} was expected (an entry is missing, repeated or out of order)",
                n.seq
            ));
        }
        if n.prev != self.last_hash {
            return Err(if self.notices == 0 {
                format!("prev is {:?}, must be empty on the first notice", n.prev)
            } else {
                format!(
                    "prev {:?} is not the hash of the previous line ({}): it was altered or \
                     this entry does not follow it",
                    n.prev, self.last_hash
                )
            });
        }
        let key = (
            n.chain.clone(),
            n.address.clone(),
            n.asset.clone(),
            n.incident.clone(),
        );
        let what = || {
            format!(
                "{} {} ({}, incident {})",
                n.chain, n.address, n.asset, n.incident
            )
        };
        match n.action {
            // A second add would hide that the writer lost track of what it had listed.
            Action::Add if self.entries.contains_key(&key) => {
                return Err(format!("add of {}, which is already listed", what()));
            }
            Action::Add => {
                self.entries.insert(key, n);
            }
            Action::Update => {
                let Some(slot) = self.entries.get_mut(&key) else {
                    return Err(format!("update of {}, which is not listed", what()));
                };
                *slot = n;
            }
            Action::Revoke => {
                if self.entries.remove(&key).is_none() {
                    return Err(format!("revoke of {}, which is not listed", what()));
                }
            }
        }
        self.notices = want;
        self.last_hash = line_hash(text);
        Ok(())
    }
}

fn parse_public(public_hex: &str) -> Result<VerifyingKey, String> {
    let bytes = decode_hex::<32>(public_hex.trim())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not an ed25519 public key".to_string())
}

fn check_line(text: &str, key: &VerifyingKey) -> Result<SignedNotice, String> {
    let s: SignedNotice =
        serde_json::from_str(text).map_err(|e| format!("not a signed notice: {e}"))?;
    let claimed = decode_hex::<32>(&s.key).map_err(|why| format!("key field: {why}"))?;
    // The line's own key proves nothing (anyone can sign with their own key); it must be the
    // key the subscriber was given.
    if claimed != key.to_bytes() {
        return Err(format!(
            "signed by key {}, not the feed key {}",
            s.key,
            hex::encode(key.to_bytes())
        ));
    }
    let sig = decode_hex::<64>(&s.sig).map_err(|why| format!("sig field: {why}"))?;
    // Strict verification refuses the malleable and small-order forms plain `verify` allows.
    key.verify_strict(&signing_bytes(&s.notice), &Signature::from_bytes(&sig))
        .map_err(|_| "bad signature: the notice is not what the feed key signed".to_string())?;
    // The hash chain covers the line's bytes while the signature covers the parsed notice;
    // requiring the canonical form ties the two together, so a reformatted line cannot
    // change its hash yet still verify.
    if line(&s) != text {
        return Err(
            "not in canonical form (signed content is fine, but the line was reformatted)".into(),
        );
    }
    Ok(s)
}

/// Checks one line on its own: JSON shape, that it was signed by `public_hex` (hex), and the
/// signature. Says nothing about its place in the feed; [`verify_feed`] does that.
pub fn verify_line(line: &str, public_hex: &str) -> Result<SignedNotice, String> {
    let key = parse_public(public_hex).map_err(|why| format!("feed public key: {why}"))?;
    check_line(line, &key)
}

/// Verifies a whole feed offline against the feed's public key (hex) and folds it to the
/// current listing. Every line must be signed by that key, numbered 1, 2, 3, …, and carry the
/// hash of the line before it; an update or revoke must name something listed and an add
/// something not listed. The first failure names its line (1-based).
pub fn verify_feed(r: impl BufRead, public_hex: &str) -> Result<Listing, FeedError> {
    let key = parse_public(public_hex).map_err(|why| FeedError::BadPublicKey { why })?;
    let mut listing = Listing::default();
    for (i, text) in r.lines().enumerate() {
        let line = i + 1;
        let text = text.map_err(|source| FeedError::Read { line, source })?;
        let s = check_line(&text, &key).map_err(|why| FeedError::Line { line, why })?;
        listing
            .apply(s.notice, &text)
            .map_err(|why| FeedError::Line { line, why })?;
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    const RFC_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn key_in(dir: &Path, name: &str) -> FeedKey {
        FeedKey::load_or_create(&dir.join(name)).unwrap().0
    }

    fn notice(seq: u64, prev: String, action: Action, address: &str, taint: &str) -> Notice {
        Notice {
            seq,
            action,
            chain: "nem".into(),
            address: address.into(),
            asset: "nem:xem".into(),
            incident: "coincheck-2018".into(),
            policy: "haircut".into(),
            taint: taint.into(),
            block: 1_450_000 + seq,
            tx: format!("tx{seq}"),
            time: "2018-01-26T02:57:00Z".into(),
            path: vec!["seedtx".into(), format!("tx{seq}")],
            reason: match action {
                Action::Revoke => "appeal granted: exchange hot wallet".into(),
                _ => "received from the theft address".into(),
            },
            appeal: "mailto:appeals@example.org".into(),
            prev,
        }
    }

    /// Writes a feed of `(action, address, taint)` notices the way a writer would.
    fn feed(key: &FeedKey, specs: &[(Action, &str, &str)]) -> Vec<String> {
        let mut w = FeedWriter::new();
        specs
            .iter()
            .map(|&(action, address, taint)| {
                let (seq, prev) = w.next();
                let text = line(&key.sign(notice(seq, prev, action, address, taint)));
                w.push(&text);
                text
            })
            .collect()
    }

    fn verify(lines: &[String], public_hex: &str) -> Result<Listing, FeedError> {
        verify_feed(lines.join("\n").as_bytes(), public_hex)
    }

    fn line_error(r: Result<Listing, FeedError>) -> (usize, String) {
        match r {
            Err(FeedError::Line { line, why }) => (line, why),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    fn listing_key(address: &str) -> ListingKey {
        (
            "nem".into(),
            address.into(),
            "nem:xem".into(),
            "coincheck-2018".into(),
        )
    }

    #[test]
    fn feed_sign_verify_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let n = notice(
            1,
            String::new(),
            Action::Add,
            "NAAAA",
            "523000000000000000000000",
        );
        let signed = key.sign(n.clone());
        assert_eq!(signed.key, key.public_hex());
        let text = line(&signed);
        assert!(!text.contains('\n'));
        assert!(text.contains(r#""action":"add""#));
        assert!(text.contains(r#""taint":"523000000000000000000000""#));
        let back = verify_line(&text, &key.public_hex()).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.notice, n);
        assert!(signing_bytes(&n).starts_with(b"ashiato-feed-v1\n{\"seq\":1,"));
        assert_eq!(line_hash(&text).len(), 64);
        assert_eq!(
            line_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn feed_rfc8032_vector_1_through_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfc.key");
        fs::write(&path, format!("{RFC_SECRET}\n")).unwrap();
        let (key, created) = FeedKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.public_hex(), RFC_PUBLIC);
        let sig = key.0.sign(b"");
        assert_eq!(hex::encode(sig.to_bytes()), RFC_SIG);
        let public: [u8; 32] = hex::decode(RFC_PUBLIC).unwrap().try_into().unwrap();
        let vk = VerifyingKey::from_bytes(&public).unwrap();
        let expected: [u8; 64] = hex::decode(RFC_SIG).unwrap().try_into().unwrap();
        vk.verify(b"", &Signature::from_bytes(&expected)).unwrap();
        assert!(vk.verify(b"x", &Signature::from_bytes(&expected)).is_err());
        // The missing .pub is written from the loaded secret.
        assert_eq!(
            fs::read_to_string(public_path(&path)).unwrap(),
            format!("{RFC_PUBLIC}\n")
        );
    }

    #[test]
    fn feed_tampered_taint_fails_with_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let mut lines = feed(
            &key,
            &[
                (Action::Add, "NA", "100"),
                (Action::Add, "NB", "200"),
                (Action::Add, "NC", "300"),
            ],
        );
        assert_eq!(verify(&lines, &key.public_hex()).unwrap().notices, 3);
        lines[1] = lines[1].replace(r#""taint":"200""#, r#""taint":"2""#);
        let (line, why) = line_error(verify(&lines, &key.public_hex()));
        assert_eq!(line, 2);
        assert!(why.starts_with("bad signature"), "{why}");
        assert!(verify_line(&lines[1], &key.public_hex())
            .unwrap_err()
            .starts_with("bad signature"));
    }

    #[test]
    fn feed_deleted_middle_line_fails() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let mut lines = feed(
            &key,
            &[
                (Action::Add, "NA", "100"),
                (Action::Add, "NB", "200"),
                (Action::Add, "NC", "300"),
            ],
        );
        lines.remove(1);
        let (line, why) = line_error(verify(&lines, &key.public_hex()));
        assert_eq!(line, 2);
        assert!(why.starts_with("seq 3 where 2 was expected"), "{why}");
    }

    #[test]
    fn feed_reordered_or_rechained_lines_fail() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let lines = feed(
            &key,
            &[(Action::Add, "NA", "100"), (Action::Add, "NB", "200")],
        );
        let swapped = vec![lines[1].clone(), lines[0].clone()];
        let (line_no, why) = line_error(verify(&swapped, &key.public_hex()));
        assert_eq!(
            (line_no, why.starts_with("seq 2 where 1")),
            (1, true),
            "{why}"
        );

        // Correctly numbered and signed, but chained to a different first line: the signer
        // rewrote history after the fact.
        let other_first = line(&key.sign(notice(1, String::new(), Action::Add, "NX", "1")));
        let (line_no, why) =
            line_error(verify(&[other_first, lines[1].clone()], &key.public_hex()));
        assert_eq!(line_no, 2);
        assert!(
            why.contains("is not the hash of the previous line"),
            "{why}"
        );
    }

    #[test]
    fn feed_line_signed_by_other_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let other = key_in(dir.path(), "other.key");
        assert_ne!(key.public_hex(), other.public_hex());
        let mut lines = feed(&key, &[(Action::Add, "NA", "100")]);
        let (seq, prev) = (2, line_hash(&lines[0]));
        let forged = other.sign(notice(seq, prev, Action::Add, "NB", "5"));
        lines.push(line(&forged));
        let (line_no, why) = line_error(verify(&lines, &key.public_hex()));
        assert_eq!(line_no, 2);
        assert!(why.starts_with("signed by key"), "{why}");
        // Claiming the feed key does not help either.
        let mut claimed = forged.clone();
        claimed.key = key.public_hex();
        lines[1] = line(&claimed);
        let (line_no, why) = line_error(verify(&lines, &key.public_hex()));
        assert_eq!(line_no, 2);
        assert!(why.starts_with("bad signature"), "{why}");
        // Verified against its own key, the forged line is fine: the check is the key given.
        assert!(verify_line(&line(&forged), &other.public_hex()).is_ok());
    }

    #[test]
    fn feed_verify_line_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let text = line(&key.sign(notice(1, String::new(), Action::Add, "NA", "1")));
        assert!(verify_line("{not json", &key.public_hex())
            .unwrap_err()
            .starts_with("not a signed notice"));
        assert!(verify_line(&text, "abc")
            .unwrap_err()
            .starts_with("feed public key"));
        let spaced = text.replacen(r#""seq":1"#, r#""seq": 1"#, 1);
        assert!(verify_line(&spaced, &key.public_hex())
            .unwrap_err()
            .starts_with("not in canonical form"));
        let extra = text.replacen(r#""seq":1"#, r#""seq":1,"note":"x""#, 1);
        assert!(verify_line(&extra, &key.public_hex())
            .unwrap_err()
            .contains("unknown field"));
        assert!(matches!(
            verify_feed(text.as_bytes(), "zz"),
            Err(FeedError::BadPublicKey { .. })
        ));
    }

    #[test]
    fn feed_add_update_revoke_fold() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        let lines = feed(
            &key,
            &[
                (Action::Add, "NA", "100"),
                (Action::Add, "NB", "200"),
                (Action::Update, "NA", "150"),
                (Action::Revoke, "NB", "200"),
                (Action::Add, "NC", "7"),
            ],
        );
        let listing = verify(&lines, &key.public_hex()).unwrap();
        assert_eq!(listing.notices, 5);
        assert_eq!(listing.last_hash, line_hash(&lines[4]));
        let listed: Vec<(&str, &str, u64)> = listing
            .entries
            .iter()
            .map(|(k, n)| (k.1.as_str(), n.taint.as_str(), n.seq))
            .collect();
        assert_eq!(listed, vec![("NA", "150", 3), ("NC", "7", 5)]);
        assert_eq!(listing.entries[&listing_key("NA")].action, Action::Update);

        // A writer resuming from the verified feed continues it.
        let w = FeedWriter::resume(&listing);
        assert_eq!(w.next(), (6, line_hash(&lines[4])));
        assert_eq!(FeedWriter::after(Some(&lines[4])).unwrap(), w);
        assert_eq!(FeedWriter::after(None).unwrap().next(), (1, String::new()));

        assert_eq!(verify(&[], &key.public_hex()).unwrap(), Listing::default());
    }

    #[test]
    fn feed_update_or_revoke_of_unlisted_and_double_add_fail() {
        let dir = tempfile::tempdir().unwrap();
        let key = key_in(dir.path(), "feed.key");
        for (specs, want_line, want) in [
            (
                vec![(Action::Add, "NA", "1"), (Action::Update, "NB", "2")],
                2,
                "update of nem NB",
            ),
            (
                vec![
                    (Action::Add, "NA", "1"),
                    (Action::Revoke, "NA", "1"),
                    (Action::Revoke, "NA", "1"),
                ],
                3,
                "revoke of nem NA",
            ),
            (
                vec![(Action::Add, "NA", "1"), (Action::Add, "NA", "2")],
                2,
                "add of nem NA",
            ),
        ] {
            let lines = feed(&key, &specs);
            let (line, why) = line_error(verify(&lines, &key.public_hex()));
            assert_eq!(line, want_line, "{why}");
            assert!(why.starts_with(want), "{why}");
        }
    }

    #[test]
    fn feed_load_or_create_creates_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("feed.key");
        let (first, created) = FeedKey::load_or_create(&path).unwrap();
        assert!(created);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert_eq!(
            fs::read_to_string(public_path(&path)).unwrap(),
            format!("{}\n", first.public_hex())
        );
        let (second, created) = FeedKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(second.public_hex(), first.public_hex());
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the two key files remain: no temp files left behind.
        let mut names: Vec<String> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["feed.key", "feed.key.pub"]);

        // A .pub that disagrees with the secret is refused, not rewritten.
        fs::write(public_path(&path), format!("{RFC_PUBLIC}\n")).unwrap();
        match FeedKey::load_or_create(&path) {
            Err(FeedError::BadKey { path: p, .. }) => assert_eq!(p, public_path(&path)),
            other => panic!("expected BadKey, got {other:?}"),
        }
    }

    #[test]
    fn feed_corrupt_key_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.key");
        for corrupt in [
            "not a key\n",
            &RFC_SECRET[..62],
            &format!("{}zz\n", &RFC_SECRET[..62]),
        ] {
            fs::write(&path, corrupt).unwrap();
            let err = FeedKey::load_or_create(&path).unwrap_err();
            match &err {
                FeedError::BadKey { path: p, .. } => assert_eq!(p, &path),
                other => panic!("expected BadKey, got {other:?}"),
            }
            assert!(err.to_string().contains(&path.display().to_string()));
            assert_eq!(fs::read_to_string(&path).unwrap(), corrupt);
            assert!(!public_path(&path).exists());
        }
    }
}
