//! Signed journal entries: each entry's hash signed by the responder's SSH key, in OpenSSH's
//! `SSHSIG` format, kept in `signatures.jsonl` beside the journal (outside the hashed bytes, so
//! the entry format and the chain are unchanged). An auditor checks any entry with
//! `ssh-keygen -Y verify -n irp-journal` over the entry's `hash` (64 hex digits, no newline) and
//! an `allowed_signers` file. See `docs/evidence.md`.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use super::Entry;

/// The `SSHSIG` namespace of journal signatures (`ssh-keygen -Y … -n irp-journal`).
pub const NAMESPACE: &str = "irp-journal";

/// The hash `SSHSIG` signs the message with (`ssh-keygen`'s default).
const HASH: HashAlg = HashAlg::Sha512;

/// How long the agent may take to sign one entry (a key added with `ssh-add -c` waits for a
/// confirmation).
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One line of `signatures.jsonl`: the signature of the entry `seq` whose hash is `hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignatureLine {
    pub seq: u64,
    /// The entry's `hash`: the message signed, as its 64 ASCII hex digits.
    pub hash: String,
    /// The signing key's fingerprint (`SHA256:…`), for people; the signature holds the key.
    pub key: String,
    /// The `SSHSIG` signature, armored (`-----BEGIN SSH SIGNATURE-----`).
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Key(String),
    #[error("the ssh-agent: {0}")]
    Agent(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

impl SignError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            SignError::Agent(_) => vec![
                "start an agent (`eval $(ssh-agent)`) and add the key (`ssh-add FILE`), or give `--signing-key` a private key file".to_owned(),
            ],
            _ => vec!["see docs/evidence.md, \"Signing the journal\"".to_owned()],
        }
    }
}

#[derive(Debug)]
enum How {
    /// An unencrypted private key file, read into memory.
    Key(Box<PrivateKey>),
    /// A key held by the ssh-agent at this socket.
    Agent(PathBuf),
}

/// The responder's key: signs journal entries.
#[derive(Debug)]
pub struct Signer {
    how: How,
    public: PublicKey,
    /// The key's fingerprint, written with every signature.
    fingerprint: String,
    /// The key file it was read from, if any.
    file: Option<PathBuf>,
}

impl Signer {
    /// The signer a setting names (`--signing-key` or `IRP_SIGNING_KEY`): `agent` (the agent's
    /// one key), a public key file (that key, in the agent), or a private key file (read when it
    /// is unencrypted; otherwise the same key in the agent).
    pub fn from_setting(setting: &str) -> Result<Signer, SignError> {
        Signer::with_agent(setting, agent_socket())
    }

    /// The same, with the agent at `socket` (`from_setting` reads `SSH_AUTH_SOCK`).
    pub fn with_agent(setting: &str, socket: Result<PathBuf, SignError>) -> Result<Signer, SignError> {
        if setting == "agent" {
            let socket = socket?;
            let keys = agent::identities(&socket)?;
            let usable: Vec<&PublicKey> = keys.iter().filter(|k| touch_free(k).is_ok()).collect();
            return match usable.as_slice() {
                [one] => Ok(Signer::new(How::Agent(socket), (*one).clone(), None)),
                [] => Err(SignError::Agent(
                    "holds no key irp can sign with (it holds none, or only keys that need a touch)"
                        .to_owned(),
                )),
                many => Err(SignError::Agent(format!(
                    "holds {} keys ({}); give `--signing-key` the public key file of the one to sign with",
                    many.len(),
                    many.iter().map(|k| describe(k)).collect::<Vec<_>>().join(", ")
                ))),
            };
        }
        let path = Path::new(setting);
        let text = std::fs::read_to_string(path)
            .map_err(|e| SignError::Key(format!("cannot read the signing key {}: {e}", path.display())))?;
        if text
            .trim_start()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        {
            check_permissions(path)?;
            let key = PrivateKey::from_openssh(&text).map_err(|e| {
                SignError::Key(format!("{} is not an OpenSSH private key: {e}", path.display()))
            })?;
            let public = key.public_key().clone();
            touch_free(&public)?;
            if key.is_encrypted() || public.algorithm().is_rsa() {
                // irp asks for no passphrase and does no RSA private-key operation of its own:
                // the agent holds such keys.
                let why = if key.is_encrypted() {
                    "is protected by a passphrase"
                } else {
                    "is an RSA key, which irp signs with only through the agent"
                };
                let socket = socket.map_err(|_| {
                    SignError::Key(format!(
                        "{} {why}, and no ssh-agent is running: start one and `ssh-add {}`",
                        path.display(),
                        path.display()
                    ))
                })?;
                return Signer::agent_holding(socket, public, path, why);
            }
            return Ok(Signer::new(How::Key(Box::new(key)), public, Some(path)));
        }
        if text.contains("PRIVATE KEY-----") {
            return Err(SignError::Key(format!(
                "{} is a private key in a format other than OpenSSH's; convert it with `ssh-keygen -p -f FILE` or add it to the agent",
                path.display()
            )));
        }
        let public = PublicKey::from_openssh(text.trim()).map_err(|e| {
            SignError::Key(format!(
                "{} is neither an OpenSSH private key nor a public key: {e}",
                path.display()
            ))
        })?;
        touch_free(&public)?;
        Signer::agent_holding(socket?, public, path, "is a public key")
    }

    fn new(how: How, public: PublicKey, file: Option<&Path>) -> Signer {
        Signer {
            how,
            fingerprint: fingerprint(&public),
            public,
            file: file.map(Path::to_owned),
        }
    }

    fn agent_holding(
        socket: PathBuf,
        public: PublicKey,
        path: &Path,
        why: &str,
    ) -> Result<Signer, SignError> {
        let held = agent::identities(&socket)?;
        if !held.iter().any(|k| k.key_data() == public.key_data()) {
            return Err(SignError::Agent(format!(
                "{} {why}, so irp signs with the agent, which does not hold that key ({}): `ssh-add` it first",
                path.display(),
                fingerprint(&public)
            )));
        }
        Ok(Signer::new(How::Agent(socket), public, Some(path)))
    }

    /// Refuses a key file inside the case folder: a private key never goes into a case (and
    /// a public key there would be taken for evidence).
    pub fn check_outside(&self, case_root: &Path) -> Result<(), SignError> {
        let real = |p: &Path| std::fs::canonicalize(p).ok();
        if let (Some(key), Some(root)) = (self.file.as_deref().and_then(real), real(case_root))
            && key.starts_with(&root)
        {
            return Err(SignError::Key(format!(
                "the signing key {} is inside the case folder; keep keys outside it",
                key.display()
            )));
        }
        Ok(())
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// `ED25519 SHA256:…`.
    pub fn describe(&self) -> String {
        describe(&self.public)
    }

    /// The signature of one entry.
    pub fn sign_entry(&self, seq: u64, hash: &str) -> Result<SignatureLine, SignError> {
        let sig = match &self.how {
            How::Key(key) => key
                .sign(NAMESPACE, HASH, hash.as_bytes())
                .map_err(|e| SignError::Sign(e.to_string()))?,
            How::Agent(socket) => {
                let data = SshSig::signed_data(NAMESPACE, HASH, hash.as_bytes())
                    .map_err(|e| SignError::Sign(e.to_string()))?;
                let signature = agent::sign(socket, &self.public, &data)?;
                SshSig::new(self.public.key_data().clone(), NAMESPACE, HASH, signature)
                    .map_err(|e| SignError::Sign(e.to_string()))?
            }
        };
        let armored = sig
            .to_pem(LineEnding::LF)
            .map_err(|e| SignError::Sign(e.to_string()))?;
        Ok(SignatureLine {
            seq,
            hash: hash.to_owned(),
            key: self.fingerprint.clone(),
            signature: armored,
        })
    }
}

/// `SHA256:…`, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn describe(key: &PublicKey) -> String {
    describe_as(key, &fingerprint(key))
}

/// `describe` with the fingerprint already worked out.
fn describe_as(key: &PublicKey, fingerprint: &str) -> String {
    let kind = match key.algorithm() {
        Algorithm::Ed25519 => "ED25519".to_owned(),
        Algorithm::Rsa { .. } => "RSA".to_owned(),
        Algorithm::Ecdsa { curve } => format!(
            "ECDSA-{}",
            curve.as_str().trim_start_matches("nist").to_uppercase()
        ),
        other => other.as_str().to_owned(),
    };
    let comment = if key.comment().is_empty() {
        String::new()
    } else {
        format!(" ({})", key.comment())
    };
    format!("{kind} {fingerprint}{comment}")
}

/// Keys on a security key (`sk-…`) sign only after a touch: one per entry is not workable.
fn touch_free(key: &PublicKey) -> Result<(), SignError> {
    if matches!(
        key.algorithm(),
        Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256
    ) {
        return Err(SignError::Key(format!(
            "{} lives on a security key that needs a touch for every signature, and irp signs every journal entry; use an ed25519 key (in the agent, if it should not sit in a file)",
            describe(key)
        )));
    }
    if matches!(key.algorithm(), Algorithm::Dsa) {
        return Err(SignError::Key(format!(
            "{} is a DSA key, which OpenSSH no longer accepts; use an ed25519 key",
            describe(key)
        )));
    }
    Ok(())
}

/// Like OpenSSH: a private key others can read is refused.
fn check_permissions(path: &Path) -> Result<(), SignError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| SignError::Key(format!("cannot read the signing key {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SignError::Key(format!(
            "permissions {:04o} for the private key {} are too open: others can read it (`chmod 600 {}`)",
            mode & 0o777,
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

fn agent_socket() -> Result<PathBuf, SignError> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| SignError::Agent("no agent is running (SSH_AUTH_SOCK is not set)".to_owned()))
}

/// The ssh-agent protocol, the two requests irp makes (draft-miller-ssh-agent).
mod agent {
    use super::{AGENT_TIMEOUT, PublicKey, SignError, UnixStream};
    use std::io::{Read as _, Write as _};
    use std::path::Path;

    const REQUEST_IDENTITIES: u8 = 11;
    const IDENTITIES_ANSWER: u8 = 12;
    const SIGN_REQUEST: u8 = 13;
    const SIGN_RESPONSE: u8 = 14;
    const FAILURE: u8 = 5;
    /// `SSH_AGENT_RSA_SHA2_512`: `SSHSIG` signs RSA with SHA-512.
    const RSA_SHA2_512: u32 = 4;
    /// Far more than any answer of an agent (a list of keys, a signature).
    const MAX_MESSAGE: usize = 256 * 1024;

    fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
    }

    fn unreadable() -> SignError {
        SignError::Agent("sent an answer irp cannot read".to_owned())
    }

    /// Reads a big-endian u32 from `buf` at `pos`.
    fn get_u32(buf: &[u8], pos: &mut usize) -> Result<u32, SignError> {
        let b = buf.get(*pos..*pos + 4).ok_or_else(unreadable)?;
        *pos += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a length-prefixed string from `buf` at `pos`.
    fn get_string<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], SignError> {
        let len = get_u32(buf, pos)? as usize;
        let s = buf.get(*pos..*pos + len).ok_or_else(unreadable)?;
        *pos += len;
        Ok(s)
    }

    fn request(socket: &Path, body: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |e: std::io::Error| {
            let what = if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                format!("did not answer within {} s", AGENT_TIMEOUT.as_secs())
            } else {
                e.to_string()
            };
            SignError::Agent(format!("at {}: {what}", socket.display()))
        };
        let mut stream = UnixStream::connect(socket).map_err(fail)?;
        stream.set_read_timeout(Some(AGENT_TIMEOUT)).map_err(fail)?;
        stream.set_write_timeout(Some(AGENT_TIMEOUT)).map_err(fail)?;
        let mut framed = Vec::with_capacity(body.len() + 4);
        put_string(&mut framed, body);
        stream.write_all(&framed).map_err(fail)?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(fail)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_MESSAGE {
            return Err(SignError::Agent(format!("sent an answer of {len} bytes")));
        }
        let mut answer = vec![0u8; len];
        stream.read_exact(&mut answer).map_err(fail)?;
        Ok(answer)
    }

    pub fn identities(socket: &Path) -> Result<Vec<PublicKey>, SignError> {
        let answer = request(socket, &[REQUEST_IDENTITIES])?;
        if answer[0] != IDENTITIES_ANSWER {
            return Err(SignError::Agent(format!(
                "refused to list its keys (answer {})",
                answer[0]
            )));
        }
        let mut pos = 1;
        let count = get_u32(&answer, &mut pos)?;
        let mut keys = Vec::new();
        for _ in 0..count {
            let blob = get_string(&answer, &mut pos)?;
            let comment = get_string(&answer, &mut pos)?;
            // Keys irp cannot read (certificates, other algorithms) are not offered.
            if let Ok(mut key) = PublicKey::from_bytes(blob) {
                key.set_comment(String::from_utf8_lossy(comment));
                keys.push(key);
            }
        }
        Ok(keys)
    }

    pub fn sign(socket: &Path, key: &PublicKey, data: &[u8]) -> Result<ssh_key::Signature, SignError> {
        let blob = key
            .to_bytes()
            .map_err(|e| SignError::Sign(format!("cannot encode the public key: {e}")))?;
        let mut body = vec![SIGN_REQUEST];
        put_string(&mut body, &blob);
        put_string(&mut body, data);
        let flags = if key.algorithm().is_rsa() { RSA_SHA2_512 } else { 0 };
        body.extend_from_slice(&flags.to_be_bytes());
        let answer = request(socket, &body)?;
        match answer[0] {
            SIGN_RESPONSE => {
                let mut pos = 1;
                let sig = get_string(&answer, &mut pos)?;
                ssh_key::Signature::try_from(sig)
                    .map_err(|e| SignError::Agent(format!("sent a signature irp cannot read: {e}")))
            }
            FAILURE => Err(SignError::Agent(
                "refused to sign (the key was removed, or its confirmation was declined)".to_owned(),
            )),
            other => Err(SignError::Agent(format!(
                "answered a signing request with message {other}"
            ))),
        }
    }
}

/// Appends signature lines to `signatures.jsonl`, each durable before the entry it signs is
/// written: a crash between the two leaves a signature of an entry that was never written
/// (which `irp verify` names), never an entry whose signature was lost.
#[derive(Debug)]
pub struct SigWriter {
    signer: std::sync::Arc<Signer>,
    file: File,
    len: u64,
}

impl SigWriter {
    pub fn open(path: &Path, signer: std::sync::Arc<Signer>) -> std::io::Result<SigWriter> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .read(true)
            .open(path)?;
        let mut len = file.metadata()?.len();
        if len > 0 {
            // A line cut short by a crash stays, on a line of its own (verify names it).
            let mut last = [0u8; 1];
            std::io::Seek::seek(&mut file, std::io::SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
                len += 1;
            }
        }
        Ok(SigWriter { signer, file, len })
    }

    /// Signs the entry `seq` with hash `hash` and makes the signature durable.
    pub fn sign(&mut self, seq: u64, hash: &str) -> std::io::Result<()> {
        let line = self
            .signer
            .sign_entry(seq, hash)
            .map_err(|e| std::io::Error::other(format!("cannot sign entry {seq}: {e}")))?;
        let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        if let Err(e) = self.file.write_all(&bytes).and_then(|()| self.file.sync_data()) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// One entry of `allowed_signers` (the format of `ssh-keygen(1)`, ALLOWED SIGNERS).
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    pub principals: Vec<String>,
    pub key: PublicKey,
    namespaces: Option<Vec<String>>,
    valid_after: Option<chrono::DateTime<chrono::Utc>>,
    valid_before: Option<chrono::DateTime<chrono::Utc>>,
}

/// An `allowed_signers` file.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
}

impl AllowedSigners {
    pub fn load(path: &Path) -> Result<AllowedSigners, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        AllowedSigners::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<AllowedSigners, String> {
        let mut signers = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", i + 1);
            let mut fields = split_fields(line);
            if fields.len() < 3 {
                return Err(at(
                    "expected `principals [options] key-type base64-key`".to_owned()
                ));
            }
            let principals: Vec<String> = unquote(&fields.remove(0))
                .split(',')
                .map(str::to_owned)
                .filter(|p| !p.is_empty())
                .collect();
            // `key-type base64 [comment]`, or options before it.
            let (options, key) = if let Ok(key) = PublicKey::from_openssh(&fields.join(" ")) {
                (None, key)
            } else {
                let options = fields.remove(0);
                let key = PublicKey::from_openssh(&fields.join(" "))
                    .map_err(|e| at(format!("the key cannot be read: {e}")))?;
                (Some(options), key)
            };
            let mut signer = AllowedSigner {
                principals,
                key,
                namespaces: None,
                valid_after: None,
                valid_before: None,
            };
            for opt in options.iter().flat_map(|o| split_options(o)) {
                let (name, value) = opt
                    .split_once('=')
                    .map_or((opt.as_str(), None), |(n, v)| (n, Some(unquote(v))));
                match (name.to_ascii_lowercase().as_str(), value) {
                    ("namespaces", Some(v)) => {
                        signer.namespaces = Some(v.split(',').map(str::to_owned).collect());
                    }
                    ("valid-after", Some(v)) => signer.valid_after = Some(parse_time(&v).map_err(at)?),
                    ("valid-before", Some(v)) => signer.valid_before = Some(parse_time(&v).map_err(at)?),
                    ("cert-authority", None) => {
                        return Err(at(
                            "`cert-authority` lines are not supported: list the responders' own keys"
                                .to_owned(),
                        ));
                    }
                    (other, _) => return Err(at(format!("unknown option `{other}`"))),
                }
            }
            signers.push(signer);
        }
        Ok(AllowedSigners { signers })
    }

    /// The principals allowed to sign journal entries with `key` at time `at`.
    pub fn principals(
        &self,
        key: &ssh_key::public::KeyData,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.signers {
            let ns_ok = s
                .namespaces
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| pattern_match(n, NAMESPACE)));
            let time_ok = s.valid_after.is_none_or(|t| at >= t) && s.valid_before.is_none_or(|t| at <= t);
            if s.key.key_data() == key && ns_ok && time_ok {
                out.extend(s.principals.iter().cloned());
            }
        }
        out
    }
}

/// Whitespace-separated fields, a quoted field (with spaces inside) kept whole.
fn split_fields(line: &str) -> Vec<String> {
    split_unquoted(line, char::is_whitespace)
}

/// `a,b="x,y",c` → `a`, `b="x,y"`, `c`.
fn split_options(options: &str) -> Vec<String> {
    split_unquoted(options, |c| c == ',')
}

/// `text` split at each separator outside double quotes (the quotes kept), empty pieces left
/// out.
fn split_unquoted(text: &str, is_separator: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && is_separator(c) {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    out.push(cur);
    out.retain(|p| !p.is_empty());
    out
}

fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_owned()
}

/// `YYYYMMDD[HHMM[SS]]`, with an optional trailing `Z` (UTC; irp reads the times as UTC).
fn parse_time(v: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let digits = v.trim_end_matches(['Z', 'z']);
    let padded = match digits.len() {
        8 => format!("{digits}000000"),
        12 => format!("{digits}00"),
        14 => digits.to_owned(),
        _ => return Err(format!("`{v}` is not a time of the form YYYYMMDD[HHMM[SS]]")),
    };
    chrono::NaiveDateTime::parse_from_str(&padded, "%Y%m%d%H%M%S")
        .map(|t| t.and_utc())
        .map_err(|e| format!("`{v}` is not a time: {e}"))
}

/// OpenSSH's pattern match (`*` and `?`).
fn pattern_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Who signed an entry, as `irp verify` and the report name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The key's fingerprint.
    pub key: String,
    /// `ED25519 SHA256:… (comment)`.
    pub key_text: String,
    /// The principals `allowed_signers` gives the key (empty without one, or when it is not
    /// there).
    pub principals: Vec<String>,
}

/// What the signatures of a journal say.
#[derive(Debug, Default)]
pub struct SignatureReport {
    /// Per entry, in order: who signed it, or `None`.
    pub per_entry: Vec<Option<Signed>>,
    /// Signatures that do not hold: (seq, what).
    pub bad: Vec<(u64, String)>,
    /// Entries signed by a key `allowed_signers` does not allow: (seq, fingerprint).
    pub unknown: Vec<(u64, String)>,
    /// Signatures of entries the journal does not hold (a crash between signing and writing).
    pub orphans: Vec<u64>,
    /// Lines of `signatures.jsonl` that cannot be read (a write cut short by a crash).
    pub unreadable_lines: Vec<usize>,
}

impl SignatureReport {
    /// The key that signed entry `seq` (`ED25519 SHA256:…`), if it is signed.
    pub fn key_of(&self, seq: u64) -> Option<&str> {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.per_entry.get(i))
            .and_then(|s| s.as_ref())
            .map(|s| s.key_text.as_str())
    }

    pub fn signed_count(&self) -> usize {
        self.per_entry.iter().flatten().count()
    }

    /// The entries without a signature, as `(from, to)` runs.
    pub fn unsigned_runs(&self) -> Vec<(u64, u64)> {
        runs(&self.per_entry, |s| s.is_none().then_some(()))
            .into_iter()
            .map(|(a, b, ())| (a, b))
            .collect()
    }

    /// Consecutive entries signed by the same key: `(from, to, signed)`.
    pub fn signer_runs(&self) -> Vec<(u64, u64, Signed)> {
        runs(&self.per_entry, Clone::clone)
    }
}

fn runs<T: PartialEq>(
    per_entry: &[Option<Signed>],
    key: impl Fn(&Option<Signed>) -> Option<T>,
) -> Vec<(u64, u64, T)> {
    let mut out: Vec<(u64, u64, T)> = Vec::new();
    for (i, s) in per_entry.iter().enumerate() {
        let i = i as u64;
        match (key(s), out.last_mut()) {
            (Some(k), Some(last)) if last.2 == k && last.1 + 1 == i => last.1 = i,
            (Some(k), _) => out.push((i, i, k)),
            (None, _) => {}
        }
    }
    out
}

/// Reads `signatures.jsonl` (absent: no entry is signed) and checks every signature against the
/// entry it names; with `allowed`, ties each key to the principals it allows.
pub fn check(
    path: &Path,
    entries: &[Entry],
    allowed: Option<&AllowedSigners>,
) -> std::io::Result<SignatureReport> {
    match std::fs::read(path) {
        Ok(t) => Ok(check_bytes(Some(&t), entries, allowed)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(check_bytes(None, entries, allowed)),
        Err(e) => Err(e),
    }
}

/// The same check over the bytes of `signatures.jsonl` (`None`: there is none).
pub fn check_bytes(
    text: Option<&[u8]>,
    entries: &[Entry],
    allowed: Option<&AllowedSigners>,
) -> SignatureReport {
    let mut report = SignatureReport {
        per_entry: vec![None; entries.len()],
        ..SignatureReport::default()
    };
    let Some(text) = text else {
        return report;
    };
    // Per seq: the signature lines for it.
    let mut by_seq: std::collections::BTreeMap<u64, Vec<SignatureLine>> = std::collections::BTreeMap::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<SignatureLine>(line) {
            Ok(l) => by_seq.entry(l.seq).or_default().push(l),
            Err(_) => report.unreadable_lines.push(i + 1),
        }
    }
    // First which line signs which entry, then the signatures checked on every core (they are
    // most of the cost: ~40 µs each for ed25519), then the report in order.
    let mut to_check: Vec<(usize, &Entry, &SignatureLine)> = Vec::new();
    for (seq, lines) in &by_seq {
        let seq = *seq;
        let Some((index, entry)) = usize::try_from(seq).ok().and_then(|i| Some((i, entries.get(i)?))) else {
            report.orphans.push(seq);
            continue;
        };
        let Some(line) = lines.iter().find(|l| l.hash == entry.hash) else {
            // Only a line for another version of this entry: the entry was changed after it was
            // signed. Unless the entry is the `lock_taken_over` a resume writes after a crash:
            // then the crash came between signing an entry and writing it.
            if matches!(entry.event, crate::engine::Event::LockTakenOver(_)) {
                report.orphans.push(seq);
                continue;
            }
            report.bad.push((
                seq,
                "the signature is of an entry with another hash: the entry was changed after it was signed"
                    .to_owned(),
            ));
            continue;
        };
        to_check.push((index, entry, line));
    }
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = to_check.len().div_ceil(threads).max(1);
    let checked: Vec<Result<PublicKey, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = to_check
            .chunks(chunk)
            .map(|part| {
                let n = part.len();
                (
                    n,
                    scope.spawn(move || part.iter().map(|(_, _, l)| verify_line(l)).collect::<Vec<_>>()),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(n, h)| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("the signature could not be checked".to_owned()); n])
            })
            .collect()
    });
    // A case has a key or a few: each is named once, not once per entry.
    let mut named: Vec<(PublicKey, String, String)> = Vec::new();
    for ((index, entry, _), result) in to_check.iter().zip(checked) {
        let seq = entry.seq;
        match result {
            Ok(key) => {
                let known = named.iter().find(|(k, ..)| k.key_data() == key.key_data());
                let (fp, text) = if let Some((_, fp, text)) = known {
                    (fp.clone(), text.clone())
                } else {
                    let fp = fingerprint(&key);
                    let text = describe_as(&key, &fp);
                    named.push((key.clone(), fp.clone(), text.clone()));
                    (fp, text)
                };
                let principals = allowed
                    .map(|a| a.principals(key.key_data(), entry.at))
                    .unwrap_or_default();
                if allowed.is_some() && principals.is_empty() {
                    report.unknown.push((seq, fp.clone()));
                }
                report.per_entry[*index] = Some(Signed {
                    key: fp,
                    key_text: text,
                    principals,
                });
            }
            Err(what) => report.bad.push((seq, what)),
        }
    }
    report.bad.sort_by_key(|(seq, _)| *seq);
    report
}

/// Checks one signature line by itself (namespace, hash, signature over the entry's hash);
/// returns the key that made it.
pub fn verify_line(line: &SignatureLine) -> Result<PublicKey, String> {
    let sig = SshSig::from_pem(&line.signature).map_err(|e| format!("the signature cannot be read: {e}"))?;
    if sig.namespace() != NAMESPACE {
        return Err(format!(
            "the signature is for namespace `{}`, not `{NAMESPACE}`",
            sig.namespace()
        ));
    }
    let key = PublicKey::from(sig.public_key().clone());
    key.verify(NAMESPACE, line.hash.as_bytes(), &sig)
        .map_err(|e| format!("the signature does not hold: {e}"))?;
    Ok(key)
}

/// The first thing the signatures make wrong: a signature that does not hold, a key
/// `allowed_signers` does not allow, or (with `allowed_signers`) an unsigned entry.
pub fn first_problem(report: &SignatureReport, allowed: bool) -> Option<super::Corruption> {
    let at = super::Corruption::at;
    let bad = report.bad.first().map(|(seq, what)| at(*seq, what.clone()));
    let unknown = report.unknown.first().map(|(seq, key)| {
        at(
            *seq,
            format!("the entry is signed by {key}, a key the allowed signers file does not allow to sign journal entries"),
        )
    });
    let unsigned = allowed
        .then(|| report.unsigned_runs().first().copied())
        .flatten()
        .map(|(from, _)| {
            at(
                from,
                if report.signed_count() == 0 {
                    "no entry of the journal is signed, and signatures were asked for".to_owned()
                } else {
                    "the entry is not signed: signing stopped here (or the signature was removed)".to_owned()
                },
            )
        });
    [bad, unknown, unsigned]
        .into_iter()
        .flatten()
        .min_by_key(|c| c.seq)
}
