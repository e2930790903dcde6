//! The key that signs checkpoints (`evidence.signing_key_file`): an Ed25519 private
//! key, as PEM (PKCS#8, `openssl genpkey -algorithm ed25519`) or as its 32 raw bytes.
//! A checkpoint line signs the chain's head before it: the canonical JSON of
//! `{"hash": H, "seq": N, "ts": T}`, `T` being the checkpoint's own `ts`.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, spki::der::pem::LineEnding};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde_json::{Value, json};

use super::chain::{Head, canonical};

/// A loaded signing key. Its `Debug` shows the public key only.
#[derive(Clone)]
pub struct Signer(SigningKey);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer(public {})", hex::encode(self.0.verifying_key().as_bytes()))
    }
}

impl PartialEq for Signer {
    fn eq(&self, other: &Self) -> bool {
        self.0.verifying_key() == other.0.verifying_key()
    }
}

impl Signer {
    /// Reads a key from a file's bytes: PEM, or exactly 32 raw bytes. The error never
    /// shows the file's contents.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signer, String> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(Signer(SigningKey::from_bytes(&raw)));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "neither a PEM key nor 32 raw bytes".to_string())?;
        SigningKey::from_pkcs8_pem(text.trim())
            .map(Signer)
            .map_err(|_| "not an Ed25519 private key in PEM (PKCS#8) form, nor 32 raw bytes".to_string())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The public key in PEM, to hand to an auditor.
    pub fn public_pem(&self) -> String {
        self.0
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key encodes")
    }

    /// The checkpoint line (without `seq`, `prev`, `hash`) that signs `head` at `ts`.
    pub fn checkpoint(&self, head: &Head, ts: &str, portal: &str) -> Value {
        let signed = json!({"hash": head.hash, "seq": head.seq, "ts": ts});
        let signature = self.0.sign(&canonical(&signed));
        json!({
            "ts": ts,
            "portal": portal,
            "phase": "checkpoint",
            "signed": signed,
            "signature": hex::encode(signature.to_bytes()),
            "public_key": hex::encode(self.0.verifying_key().as_bytes()),
        })
    }
}

/// Reads an auditor's public key: PEM (SubjectPublicKeyInfo) or 64 hex digits.
pub fn public_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    if let Ok(bytes) = hex::decode(text)
        && let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return VerifyingKey::from_bytes(&raw).map_err(|_| "not an Ed25519 public key".to_string());
    }
    VerifyingKey::from_public_key_pem(text)
        .map_err(|_| "not an Ed25519 public key in PEM form nor 64 hex digits".into())
}

/// Checks a checkpoint line against the chain's head before it and the auditor's key.
pub fn check(line: &Value, head: Option<&Head>, key: &VerifyingKey) -> Result<(), String> {
    let signed = line.get("signed").ok_or("a checkpoint without what it signs")?;
    let ts = line.get("ts").and_then(Value::as_str).unwrap_or_default();
    let head = head.ok_or("a checkpoint with no line before it")?;
    let expected = json!({"hash": head.hash, "seq": head.seq, "ts": ts});
    if *signed != expected {
        return Err("the checkpoint signs another head than the line before it".into());
    }
    let signature = line
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or("the checkpoint's signature is not one")?;
    key.verify(&canonical(signed), &signature)
        .map_err(|_| "the checkpoint's signature does not hold for this public key".to_string())
}

/// [`check`] against several keys (the keys a log was signed with over time): the
/// checkpoint holds when one of them verifies it.
pub fn check_any(line: &Value, head: Option<&Head>, keys: &[VerifyingKey]) -> Result<(), String> {
    let mut last = Err("no key to check against".to_string());
    for key in keys {
        last = check(line, head, key);
        if last.is_ok() {
            return last;
        }
    }
    last
}
