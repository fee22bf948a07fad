//! Evidence that stands up: signed entries (checked by OpenSSH's own `ssh-keygen -Y`), forgeries
//! named, signing stopped half way named, key handling as OpenSSH does it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use irp::journal::sign::{NAMESPACE, SignatureLine, Signer};
use irp::journal::{self, CaseDir, Entry};

use crate::common::{allowed_line, drill, drill_with, irp, openssh, stderr, stdout, test_key};

const ANSWERS: &str = "tests/fixtures/cases/drill.answers.yaml";

/// A finished drill case in `root`, its entries signed with `key` (a setting of
/// `--signing-key`), through the agent at `agent` if given.
fn signed_case(root: &Path, key: Option<&str>, agent: Option<&Path>) -> std::process::Output {
    let mut cmd = drill(root);
    if let Some(k) = key {
        cmd.args(["--signing-key", k]);
    }
    if let Some(a) = agent {
        cmd.env("SSH_AUTH_SOCK", a);
    }
    cmd.output().unwrap()
}

fn verify(root: &Path, allowed: Option<&Path>) -> (bool, String) {
    let mut cmd = irp();
    cmd.arg("verify").arg(root);
    if let Some(a) = allowed {
        cmd.arg("--allowed-signers").arg(a);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

fn signature_lines(root: &Path) -> Vec<SignatureLine> {
    std::fs::read_to_string(root.join(CaseDir::SIGNATURES))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn entries(root: &Path) -> Vec<Entry> {
    journal::store::read(&root.join(CaseDir::JOURNAL))
        .unwrap()
        .entries
}

fn write_allowed(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("allowed_signers");
    std::fs::write(&path, lines.concat()).unwrap();
    path
}

/// `ssh-keygen -Y verify` of `message` (stdin) against `signature`.
fn ssh_keygen_verify(
    tool: &Path,
    allowed: &Path,
    principal: &str,
    signature: &str,
    message: &str,
    dir: &Path,
) -> (bool, String) {
    let sig = dir.join("entry.sig");
    std::fs::write(&sig, signature).unwrap();
    let mut child = Command::new(tool)
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", principal, "-n", NAMESPACE, "-s"])
        .arg(&sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), message.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

#[test]
fn openssh_accepts_the_signatures_irp_writes_and_irp_accepts_those_openssh_writes() {
    let Some(keygen) = openssh("ssh-keygen") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let key = test_key("alice");
    let out = signed_case(&root, Some(key.to_str().unwrap()), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let allowed = write_allowed(tmp.path(), &[allowed_line("alice@example.org", "alice")]);
    let entries = entries(&root);
    let lines = signature_lines(&root);
    assert_eq!(lines.len(), entries.len(), "one signature per entry");

    // OpenSSH checks irp's signatures, over the entry's hash, with nothing but the
    // allowed_signers file: the first entry, one from the middle and the last.
    for seq in [0, entries.len() / 2, entries.len() - 1] {
        let line = &lines[seq];
        assert_eq!(line.hash, entries[seq].hash);
        let (ok, said) = ssh_keygen_verify(
            &keygen,
            &allowed,
            "alice@example.org",
            &line.signature,
            &line.hash,
            tmp.path(),
        );
        assert!(ok, "ssh-keygen -Y verify refused seq {seq}: {said}");
        assert!(
            said.contains("Good \"irp-journal\" signature for alice@example.org"),
            "{said}"
        );
        // And refuses it over any other message.
        let (ok, _) = ssh_keygen_verify(
            &keygen,
            &allowed,
            "alice@example.org",
            &line.signature,
            &entries[0].prev,
            tmp.path(),
        );
        assert!(!ok, "ssh-keygen accepted a signature over other bytes");
    }

    // ssh-keygen signs entry 5's hash. Ed25519 signatures are deterministic: its signature is
    // irp's, byte for byte.
    let seq = 5;
    let message = tmp.path().join("hash");
    std::fs::write(&message, &entries[seq].hash).unwrap();
    let keygen_sign = |key: &Path, namespace: &str| {
        let signed = Command::new(&keygen)
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(key)
            .arg(&message)
            .output()
            .unwrap();
        assert!(signed.status.success(), "{}", stderr(&signed));
        let sig = std::fs::read_to_string(message.with_extension("sig")).unwrap();
        std::fs::remove_file(message.with_extension("sig")).unwrap();
        sig
    };
    assert_eq!(keygen_sign(&key, NAMESPACE), lines[seq].signature);
    // ECDSA signatures are not: ssh-keygen's signature with another key stands in for irp's.
    let bob = keygen_sign(&test_key("bob"), NAMESPACE);
    let mut replaced = lines.clone();
    replaced[seq].signature.clone_from(&bob);
    let write = |lines: &[SignatureLine]| {
        let text: String = lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect();
        std::fs::write(root.join(CaseDir::SIGNATURES), text).unwrap();
    };
    write(&replaced);
    let both = tmp.path().join("both_signers");
    std::fs::write(
        &both,
        allowed_line("alice@example.org", "alice") + &allowed_line("bob@example.org", "bob"),
    )
    .unwrap();
    let (ok, said) = verify(&root, Some(&both));
    assert!(ok, "{said}");
    assert!(
        said.contains("seq 5 signed by bob@example.org (ECDSA-P256 SHA256:"),
        "{said}"
    );
    assert!(
        said.contains("seq 0–4 signed by alice@example.org (ED25519 SHA256:"),
        "{said}"
    );
    // Bob is not in the first file: named.
    let (ok, said) = verify(&root, Some(&allowed));
    assert!(!ok);
    assert!(
        said.contains("seq 5 (line 6)") && said.contains("does not allow"),
        "{said}"
    );

    // A signature ssh-keygen made in another namespace is not a journal signature.
    replaced[seq].signature = keygen_sign(&key, "file");
    write(&replaced);
    let (ok, said) = verify(&root, Some(&allowed));
    assert!(!ok);
    assert!(
        said.contains(&format!("seq {seq}")) && said.contains("namespace `file`"),
        "{said}"
    );
}

/// Rewrites entry `seq` (through `edit`) and every entry after it, with their hashes recomputed:
/// what someone who can write the case folder can do to an unsigned journal unseen.
fn rehash_from(root: &Path, seq: usize, edit: impl FnOnce(&mut Entry)) {
    let mut all = entries(root);
    edit(&mut all[seq]);
    let mut prev = all[seq].prev.clone();
    let mut bytes = Vec::new();
    let raw = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
    for line in raw.split_inclusive(|b| *b == b'\n').take(seq) {
        bytes.extend_from_slice(line);
    }
    for e in &all[seq..] {
        let (entry, line) =
            journal::entry::encode(e.seq, e.id, e.at, &e.actor, e.event.clone(), &prev).unwrap();
        prev = entry.hash;
        bytes.extend_from_slice(&line);
    }
    std::fs::write(root.join(CaseDir::JOURNAL), bytes).unwrap();
}

#[test]
fn a_rehashed_edit_is_caught_by_the_signatures_and_a_re_signing_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let out = signed_case(&root, Some(test_key("alice").to_str().unwrap()), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let allowed = write_allowed(tmp.path(), &[allowed_line("alice@example.org", "alice")]);
    assert!(verify(&root, Some(&allowed)).0);

    // The report shows the signer of each entry.
    let report = irp()
        .arg("report")
        .arg(&root)
        .args(["-f", "md"])
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    let md = stdout(&report);
    assert!(
        md.contains("| Signatures | 60 of 60 entries signed: seq 0–59 by `ED25519 SHA256:"),
        "{md}"
    );
    assert!(
        md.lines()
            .filter(|l| l.starts_with("- **") && l.contains("· signed `ED25519 SHA256:"))
            .count()
            > 40,
        "{md}"
    );

    // Entry 20 now says someone else acted, and the chain is recomputed: it holds again.
    rehash_from(&root, 20, |e| e.actor = "bob".to_owned());
    assert!(
        journal::store::read(&root.join(CaseDir::JOURNAL))
            .unwrap()
            .corruption
            .is_none()
    );
    for allowed in [None, Some(allowed.as_path())] {
        let (ok, said) = verify(&root, allowed);
        assert!(!ok, "a rehashed edit verified: {said}");
        assert!(
            said.contains("seq 20 (line 21)") && said.contains("changed after it was signed"),
            "{said}"
        );
    }

    // The forger signs the rewritten entries with their own key.
    let mallory = Signer::from_setting(test_key("mallory").to_str().unwrap()).unwrap();
    let mut text = std::fs::read_to_string(root.join(CaseDir::SIGNATURES)).unwrap();
    for e in &entries(&root)[20..] {
        text.push_str(&serde_json::to_string(&mallory.sign_entry(e.seq, &e.hash).unwrap()).unwrap());
        text.push('\n');
    }
    std::fs::write(root.join(CaseDir::SIGNATURES), text).unwrap();
    let fingerprint = irp::journal::sign::fingerprint(mallory.public_key());
    // Without allowed signers the signatures hold, and the change of key is shown…
    let (ok, said) = verify(&root, None);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("seq 20–59 signed by ED25519 {fingerprint}")),
        "{said}"
    );
    // …with them, the key is named as one nobody allowed.
    let (ok, said) = verify(&root, Some(&allowed));
    assert!(!ok);
    assert!(
        said.contains("seq 20 (line 21)") && said.contains(&fingerprint) && said.contains("does not allow"),
        "{said}"
    );
}

#[test]
fn an_unsigned_case_verifies_and_says_so_and_signing_stopped_half_way_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let allowed = write_allowed(tmp.path(), &[allowed_line("alice@example.org", "alice")]);

    let plain = tmp.path().join("plain");
    assert!(signed_case(&plain, None, None).status.success());
    let (ok, said) = verify(&plain, None);
    assert!(ok, "{said}");
    assert!(said.contains("unsigned: no entry is signed"), "{said}");
    assert!(!plain.join(CaseDir::SIGNATURES).exists());
    // Asked for signatures, an unsigned case does not pass (signatures can be stripped).
    let (ok, said) = verify(&plain, Some(&allowed));
    assert!(!ok);
    assert!(
        said.contains("seq 0") && said.contains("no entry of the journal is signed"),
        "{said}"
    );

    // Signed up to a pause, then resumed without the key.
    let half = tmp.path().join("half");
    let key = test_key("alice");
    let out = drill_with(&half, &without_last_answer(tmp.path()))
        .args(["--signing-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stops for the missing answer: {}",
        stderr(&out)
    );
    let signed = entries(&half).len();
    let out = irp()
        .env("IRP_NOW", "2026-11-28T03:10:00Z")
        .env("IRP_SEED", "8")
        .arg("resume")
        .arg(&half)
        .args(["--headless", "--answers", ANSWERS])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let total = entries(&half).len();
    let (ok, said) = verify(&half, None);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("seq 0–{} signed by ED25519", signed - 1)),
        "{said}"
    );
    assert!(
        said.contains(&format!("seq {signed}–{} not signed", total - 1)),
        "{said}"
    );
    let (ok, said) = verify(&half, Some(&allowed));
    assert!(!ok);
    assert!(
        said.contains(&format!("seq {signed} (line {})", signed + 1))
            && said.contains("signing stopped here"),
        "{said}"
    );
}

/// The drill's answers without the last step's: a headless run stops there.
fn without_last_answer(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(crate::common::repo().join(ANSWERS)).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("  verify-6:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept.len(), text.len());
    let path = dir.join("partial.answers.yaml");
    std::fs::write(&path, kept).unwrap();
    path
}

#[test]
fn keys_are_handled_as_openssh_handles_them() {
    let tmp = tempfile::tempdir().unwrap();
    let refuse = |key: &Path, agent: Option<&Path>, expect: &str| {
        let root = tmp.path().join("refused");
        let out = signed_case(&root, Some(key.to_str().unwrap()), agent);
        assert!(!out.status.success());
        let said = stderr(&out);
        assert!(said.contains(expect), "expected `{expect}` in: {said}");
        assert!(!root.exists(), "nothing is created when the key is refused");
    };
    // A private key others can read.
    let open = tmp.path().join("open-key");
    std::fs::copy(crate::common::repo().join("tests/fixtures/keys/alice"), &open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    refuse(&open, None, "are too open");
    // A key with a passphrase, with no agent: irp asks for no passphrase.
    refuse(
        &test_key("dave"),
        None,
        "is protected by a passphrase, and no ssh-agent is running",
    );
    // An RSA key file: signed through the agent only.
    refuse(&test_key("carol"), None, "is an RSA key");
    // A key that needs a touch per signature (a security key), given by its public key.
    let sk = tmp.path().join("sk.pub");
    std::fs::write(&sk, "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= erin\n").unwrap();
    refuse(&sk, None, "needs a touch for every signature");

    // A key inside the case folder: refused before anything is written.
    let root = tmp.path().join("case");
    assert!(signed_case(&root, None, None).status.success());
    let inside = root.join("key");
    std::fs::copy(test_key("alice"), &inside).unwrap();
    let before = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
    let out = irp()
        .arg("resume")
        .arg(&root)
        .args(["--headless", "--answers", ANSWERS, "--signing-key"])
        .arg(&inside)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is inside the case folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(root.join(CaseDir::JOURNAL)).unwrap(), before);
    // No private key bytes in the case folder of a signed case.
    let signed = tmp.path().join("signed");
    assert!(
        signed_case(&signed, Some(test_key("alice").to_str().unwrap()), None)
            .status
            .success()
    );
    let secret = std::fs::read_to_string(test_key("alice")).unwrap();
    let body: String = secret.lines().filter(|l| !l.starts_with("-----")).collect();
    for f in crate::common::files_under(&signed) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).replace('\n', "");
        assert!(
            !text.contains(&body[..40]),
            "{} holds the private key",
            f.display()
        );
    }
}

/// An ssh-agent of the test's own, on a socket in `dir`, killed when dropped.
struct Agent {
    child: std::process::Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Option<Agent> {
        let program = openssh("ssh-agent")?;
        let add = openssh("ssh-add")?;
        let socket = dir.join("agent.sock");
        let child = Command::new(program)
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The socket appears when the agent binds it, a moment before it listens: wait until
        // `ssh-add -l` reaches it (exit 2: it could not connect; 1: an agent with no keys).
        let started = std::time::Instant::now();
        loop {
            let reached = socket.exists()
                && Command::new(&add)
                    .arg("-l")
                    .env("SSH_AUTH_SOCK", &socket)
                    .stdin(Stdio::null())
                    .output()
                    .is_ok_and(|o| o.status.code() != Some(2));
            if reached {
                break;
            }
            assert!(started.elapsed().as_secs() < 10, "ssh-agent did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(Agent { child, socket })
    }

    /// `ssh-add ARGS` against this agent.
    fn add(&self, args: &[&std::ffi::OsStr]) {
        let add = openssh("ssh-add").unwrap();
        let out = Command::new(add)
            .args(args)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_agent_signs_with_rsa_and_ecdsa_keys_and_names_what_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(agent) = Agent::start(tmp.path()) else {
        return;
    };
    let allowed = write_allowed(
        tmp.path(),
        &[
            allowed_line("carol@example.org", "carol"),
            allowed_line("bob@example.org", "bob"),
        ],
    );
    // The agent holds nothing yet.
    let root = tmp.path().join("none");
    let out = signed_case(&root, Some("agent"), Some(&agent.socket));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no key irp can sign with"),
        "{}",
        stderr(&out)
    );
    let carol = test_key("carol");
    let out = signed_case(
        &root,
        Some(&format!("{}.pub", carol.display())),
        Some(&agent.socket),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not hold that key"),
        "{}",
        stderr(&out)
    );

    // RSA, through the agent only: the key file itself and its public key name it.
    agent.add(&[carol.as_os_str()]);
    for (i, setting) in [
        carol.display().to_string(),
        format!("{}.pub", carol.display()),
        "agent".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let root = tmp.path().join(format!("rsa-{i}"));
        let out = signed_case(&root, Some(setting), Some(&agent.socket));
        assert!(out.status.success(), "{setting}: {}", stderr(&out));
        let (ok, said) = verify(&root, Some(&allowed));
        assert!(ok, "{said}");
        assert!(
            said.contains("signed by carol@example.org (RSA SHA256:"),
            "{said}"
        );
    }

    // Two keys in the agent: `agent` alone is ambiguous, the public key file chooses.
    let bob = test_key("bob");
    agent.add(&[bob.as_os_str()]);
    let out = signed_case(&tmp.path().join("two"), Some("agent"), Some(&agent.socket));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("holds 2 keys"), "{}", stderr(&out));
    let root = tmp.path().join("ecdsa");
    let out = signed_case(
        &root,
        Some(&format!("{}.pub", bob.display())),
        Some(&agent.socket),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (ok, said) = verify(&root, Some(&allowed));
    assert!(ok, "{said}");
    assert!(
        said.contains("signed by bob@example.org (ECDSA-P256 SHA256:"),
        "{said}"
    );
}

/// `irp case seal` (or a verify against seals) with the moto endpoint.
fn with_moto(cmd: &mut Command, endpoint: &str) {
    cmd.args(["--endpoint-url", endpoint, "--region", "us-east-1"]);
}

fn verify_against(root: &Path, url: &str, endpoint: &str) -> (bool, String) {
    let mut cmd = irp();
    cmd.arg("verify").arg(root).args(["--against", url]);
    with_moto(&mut cmd, endpoint);
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

#[test]
fn a_journal_cut_short_or_rewritten_after_its_seal_is_caught_against_the_seal_on_moto() {
    let Some((endpoint, _lock)) = crate::athena::moto_for_library() else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let locked = format!("irp-seal-locked-{}", nanos % 1_000_000_000_000);
    let plain = format!("irp-seal-plain-{}", nanos % 1_000_000_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let conf = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .load(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    rt.block_on(async {
        use aws_sdk_s3::types::{
            DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
            ObjectLockRule,
        };
        s3.create_bucket()
            .bucket(&locked)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .unwrap();
        s3.put_object_lock_configuration()
            .bucket(&locked)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::Compliance)
                                    .days(1)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        s3.create_bucket().bucket(&plain).send().await.unwrap();
    });

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    assert!(
        signed_case(&root, Some(test_key("alice").to_str().unwrap()), None)
            .status
            .success()
    );
    let url = format!("s3://{locked}/evidence");
    let mut seal = irp();
    seal.args(["case", "seal"]).arg(&root).args(["--to", &url]);
    with_moto(&mut seal, &endpoint);
    let out = seal.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out) + &stderr(&out);
    assert!(said.contains("sealed entries 0–59"), "{said}");
    assert!(said.contains("COMPLIANCE until"), "{said}");

    // The seal is journaled: the head it covers, each object's version and retention.
    let all = entries(&root);
    let sealed = match &all.last().unwrap().event {
        irp::engine::Event::CaseSealed(s) => s.clone(),
        other => panic!("the last entry is {}", other.kind()),
    };
    assert_eq!(sealed.entries, 60);
    assert_eq!(sealed.head, all[59].hash);
    assert_eq!(sealed.objects.len(), 3, "journal, signatures, manifest");
    for o in &sealed.objects {
        assert!(o.version_id.is_some(), "{o:?}");
        assert_eq!(
            o.retention.as_ref().map(|r| r.mode.as_str()),
            Some("COMPLIANCE"),
            "{o:?}"
        );
    }
    assert!(
        sealed.object_lock.contains("COMPLIANCE 1 days"),
        "{}",
        sealed.object_lock
    );
    // S3 holds what the entry says: the manifest names every file with its hash.
    let manifest_key = &sealed.objects[2].key;
    let body = rt.block_on(async {
        let got = s3
            .get_object()
            .bucket(&locked)
            .key(manifest_key)
            .send()
            .await
            .unwrap();
        got.body.collect().await.unwrap().into_bytes()
    });
    let manifest: irp::case::seal::Manifest = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest.head, sealed.head);
    assert!(manifest.files.iter().any(|f| f.path == "playbook.yaml"));
    assert!(manifest.files.iter().all(|f| f.path != "case.lock"));
    // The locked version cannot be deleted.
    let deleted = rt.block_on(
        s3.delete_object()
            .bucket(&locked)
            .key(manifest_key)
            .version_id(sealed.objects[2].version_id.clone().unwrap())
            .send(),
    );
    assert!(deleted.is_err(), "a COMPLIANCE-locked version was deleted");

    let (ok, said) = verify_against(&root, &url, &endpoint);
    assert!(ok, "{said}");
    assert!(said.contains("holds: entries 0–59"), "{said}");
    assert!(said.contains("entries 60–60 came after the last seal"), "{said}");

    // Cut short to 50 entries: a valid, shorter chain that only the seal shows.
    let journal = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
    let keep: Vec<u8> = journal
        .split_inclusive(|b| *b == b'\n')
        .take(50)
        .flatten()
        .copied()
        .collect();
    std::fs::write(root.join(CaseDir::JOURNAL), &keep).unwrap();
    assert!(verify(&root, None).0, "the chain alone cannot see it");
    let (ok, said) = verify_against(&root, &url, &endpoint);
    assert!(!ok);
    assert!(
        said.contains("cut short") && said.contains("covers 60 entries") && said.contains("holds 50"),
        "{said}"
    );

    // Rewritten from seq 30 with the hashes recomputed.
    std::fs::write(root.join(CaseDir::JOURNAL), &journal).unwrap();
    rehash_from(&root, 30, |e| e.actor = "bob".to_owned());
    let (ok, said) = verify_against(&root, &url, &endpoint);
    assert!(!ok);
    assert!(
        said.contains("rewritten")
            && said.contains("seq 30 (line 31)")
            && said.contains("entry 30 is not the one sealed"),
        "{said}"
    );

    // No seal of this case there: nothing to check against is a failure, not a pass.
    let other = tmp.path().join("other");
    let out = drill(&other).env("IRP_SEED", "another case").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (ok, said) = verify_against(&other, &url, &endpoint);
    assert!(!ok);
    assert!(said.contains("no seal of this case"), "{said}");

    // A bucket without Object Lock: sealed, with a warning that says what that means.
    let mut seal = irp();
    seal.args(["case", "seal"])
        .arg(&other)
        .args(["--to", &format!("s3://{plain}/x")]);
    with_moto(&mut seal, &endpoint);
    let out = seal.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no Object Lock retention"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_case_seals_itself_as_it_goes_and_a_failed_seal_does_not_stop_it() {
    let Some((endpoint, _lock)) = crate::athena::moto_for_library() else {
        return;
    };
    let bucket = format!(
        "irp-seal-auto-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let config = |to: &str| {
        let path = tmp.path().join(format!("config-{}.toml", to.len()));
        std::fs::write(
            &path,
            format!("[seal]\nto = \"{to}\"\nevery_entries = 25\nat_stage_end = true\nendpoint_url = \"{endpoint}\"\nregion = \"us-east-1\"\n"),
        )
        .unwrap();
        path
    };
    let url = format!("s3://{bucket}/auto");
    let root = tmp.path().join("case");
    let out = drill(&root).env("IRP_CONFIG", config(&url)).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = entries(&root);
    let seals: Vec<_> = all
        .iter()
        .filter_map(|e| match &e.event {
            irp::engine::Event::CaseSealed(s) => Some(s.trigger.clone()),
            _ => None,
        })
        .collect();
    assert!(seals.iter().any(|t| t.starts_with("end of stage ")), "{seals:?}");
    assert!(seals.iter().any(|t| t == "case closed"), "{seals:?}");
    assert!(seals.len() >= 3, "{seals:?}");
    let (ok, said) = verify_against(&root, &url, &endpoint);
    assert!(ok, "{said}");
    assert_eq!(said.matches(" holds: entries 0–").count(), seals.len(), "{said}");

    // A location that does not exist: every seal fails, is journaled, and the case finishes.
    let root = tmp.path().join("failing");
    let out = drill(&root)
        .env("IRP_CONFIG", config("s3://irp-no-such-bucket-here/x"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = entries(&root);
    assert!(all.iter().any(|e| e.event.kind() == "case_closed"));
    let failed = all.iter().filter(|e| e.event.kind() == "seal_failed").count();
    assert!(failed >= 3, "{failed}");
    assert!(verify(&root, None).0);
}

#[test]
fn an_exported_case_verifies_without_unpacking_and_unpacks_with_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    assert!(
        signed_case(&root, Some(test_key("alice").to_str().unwrap()), None)
            .status
            .success()
    );
    let allowed = write_allowed(tmp.path(), &[allowed_line("alice@example.org", "alice")]);
    for name in ["case.tar", "case.tar.gz"] {
        let archive = tmp.path().join(name);
        let out = irp()
            .args(["case", "export"])
            .arg(&root)
            .arg("-o")
            .arg(&archive)
            .arg("--allowed-signers")
            .arg(&allowed)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let (ok, said) = verify(&archive, None);
        assert!(ok, "{said}");
        assert!(said.contains("seq 0–59 signed by alice@example.org"), "{said}");
        assert!(
            said.contains("signers checked against the allowed signers the exporter put in the archive"),
            "{said}"
        );
        assert!(said.contains("ok: archive of case"), "{said}");
        // Never over an existing file.
        let again = irp()
            .args(["case", "export"])
            .arg(&root)
            .arg("-o")
            .arg(&archive)
            .output()
            .unwrap();
        assert!(!again.status.success());
        assert!(
            stderr(&again).contains("does not overwrite"),
            "{}",
            stderr(&again)
        );
    }

    // Standard tools unpack it, and the folder verifies where it lands.
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(tmp.path().join("case.tar.gz"))
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", stderr(&tar));
    let case_id = std::fs::read_dir(&unpacked)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert!(unpacked.join("manifest.json").is_file() && unpacked.join("allowed_signers").is_file());
    let (ok, said) = verify(&case_id, Some(&unpacked.join("allowed_signers")));
    assert!(ok, "{said}");

    // A changed file inside the archive is named, without unpacking.
    let artifact = "playbook.yaml";
    let bytes = std::fs::read(tmp.path().join("case.tar")).unwrap();
    let original = std::fs::read(case_id.join(artifact)).unwrap();
    let at = bytes
        .windows(original.len())
        .position(|w| w == original.as_slice())
        .unwrap();
    let mut changed = bytes.clone();
    changed[at] ^= 0x20;
    let forged = tmp.path().join("forged.tar");
    std::fs::write(&forged, changed).unwrap();
    let (ok, said) = verify(&forged, None);
    assert!(!ok);
    assert!(
        said.contains(&format!("`{artifact}`")) && said.contains("changed"),
        "{said}"
    );
    // Someone else's allowed signers file overrides the archive's: alice is not in it.
    let mallory_only = tmp.path().join("mallory_only");
    std::fs::write(&mallory_only, allowed_line("mallory@example.org", "mallory")).unwrap();
    let (ok, said) = verify(&tmp.path().join("case.tar"), Some(&mallory_only));
    assert!(!ok);
    assert!(said.contains("does not allow"), "{said}");
}

#[test]
fn artifacts_are_never_replaced_and_a_new_case_appears_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    let session = crate::journal::new_case(&root);
    // Built beside the folder and moved into place: no staging folder is left.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["case".to_owned()]);
    assert_eq!(session.dir.root, root);
    // Two artifacts for the same next entry (a failed attempt, then another): the first stays.
    let first = session.write_artifact("scope", "json", b"first").unwrap();
    let second = session.write_artifact("scope", "json", b"second").unwrap();
    assert_ne!(first.path, second.path);
    assert!(second.path.ends_with("-scope-2.json"), "{}", second.path);
    assert_eq!(std::fs::read(root.join(&first.path)).unwrap(), b"first");
    assert_eq!(std::fs::read(root.join(&second.path)).unwrap(), b"second");
    drop(session);
    // An empty folder given as --case-dir is replaced by the new case whole.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let session = crate::journal::new_case(&empty);
    assert!(empty.join(CaseDir::JOURNAL).is_file());
    assert_eq!(session.entries.len(), entries(&empty).len());
}

#[test]
fn when_the_agent_stops_signing_mid_case_the_entry_is_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(agent) = Agent::start(tmp.path()) else {
        return;
    };
    let bob = test_key("bob");
    agent.add(&[bob.as_os_str()]);
    let setting = format!("{}.pub", bob.display());
    let signer = Signer::with_agent(&setting, Ok(agent.socket.clone())).unwrap();
    let root = tmp.path().join("case");
    let mut ctx = crate::journal::ctx("alice");
    ctx.signer = Some(std::sync::Arc::new(signer));
    let inputs = [("bucket".to_owned(), "drill-bucket".to_owned())];
    let mut session = irp::case::Session::create(
        &root,
        &crate::journal::drill_path(),
        &inputs,
        irp::engine::Mode::Rehearsal,
        ctx,
    )
    .unwrap();
    let note = || irp::engine::Command::AddNote {
        text: "looked".to_owned(),
    };
    session.execute(&note()).unwrap();
    let files = || {
        (
            std::fs::read(root.join(CaseDir::JOURNAL)).unwrap(),
            std::fs::read(root.join(CaseDir::SIGNATURES)).unwrap(),
        )
    };
    let before = files();

    // The key is taken out of the agent: it refuses, and nothing is written.
    agent.add(&["-D".as_ref()]);
    let err = session.execute(&note()).unwrap_err().to_string();
    assert!(
        err.contains("cannot sign entry") && err.contains("refused to sign"),
        "{err}"
    );
    assert_eq!(files(), before, "neither the entry nor a signature was written");
    // The agent is gone: the same, with where it was.
    drop(agent);
    let err = session.execute(&note()).unwrap_err().to_string();
    assert!(
        err.contains("cannot sign entry") && err.contains("agent.sock"),
        "{err}"
    );
    assert_eq!(files(), before);
    drop(session);
    let allowed = write_allowed(tmp.path(), &[allowed_line("bob@example.org", "bob")]);
    let (ok, said) = verify(&root, Some(&allowed));
    assert!(ok, "every entry written is signed: {said}");
}

#[test]
fn a_hash_field_of_any_text_is_shown_whole_not_cut_inside_a_character() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("case");
    drop(crate::journal::new_case(&root));
    // A journal is input: an entry whose head is not a hash, with its own hash right.
    let all = entries(&root);
    let last = all.last().unwrap();
    // Byte 12 falls inside a character: cutting there would panic.
    let head = format!("a{}", "é".repeat(20));
    let sealed = irp::engine::Event::CaseSealed(irp::engine::CaseSealed {
        location: "s3://b/p/".to_owned(),
        entries: all.len() as u64,
        head: head.clone(),
        trigger: "command".to_owned(),
        object_lock: "not enabled on the bucket".to_owned(),
        objects: Vec::new(),
    });
    let (_, line) =
        journal::entry::encode(last.seq + 1, last.id, last.at, "alice", sealed, &last.hash).unwrap();
    let mut bytes = std::fs::read(root.join(CaseDir::JOURNAL)).unwrap();
    bytes.extend_from_slice(&line);
    std::fs::write(root.join(CaseDir::JOURNAL), bytes).unwrap();
    let out = irp().arg("journal").arg(&root).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&head), "{}", stdout(&out));
}
