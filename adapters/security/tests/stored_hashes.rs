//! Hashes already in users' rows must keep verifying across upgrades of the
//! argon2 crate, and a password registered in NFC must log in typed in NFD.

use adapter_security::Argon2Hasher;
use application::ports::PasswordHasher;
use domain::{Password, PasswordHash};

/// Made by argon2 0.5.3 (the release the service shipped with) from
/// "café crème brûlée" in NFC, with the service's parameters.
const STORED_BY_ARGON2_0_5: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$4RZA21GDLDZMkbxIpleyfA$sN378RCI7DtlGZJ5bc0SYKbupXVUebhGS/meZRoOLmc";

const PRECOMPOSED: &str = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
const DECOMPOSED: &str = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";

/// Whether `typed`, as typed at login, matches `stored`.
async fn verifies(hasher: &Argon2Hasher, typed: &str, stored: &PasswordHash) -> bool {
    hasher
        .verify(&Password::for_login(typed), stored)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hash_stored_by_the_previous_argon2_release_still_verifies() {
    let hasher = Argon2Hasher::new().unwrap();
    let stored = PasswordHash::new(STORED_BY_ARGON2_0_5.to_owned());
    assert!(verifies(&hasher, PRECOMPOSED, &stored).await);
    assert!(!verifies(&hasher, "cafe creme brulee", &stored).await);
}

#[tokio::test]
async fn a_password_registered_in_nfc_logs_in_typed_in_nfd() {
    let hasher = Argon2Hasher::new().unwrap();
    let stored = PasswordHash::new(STORED_BY_ARGON2_0_5.to_owned());
    assert_ne!(PRECOMPOSED, DECOMPOSED);
    assert!(verifies(&hasher, DECOMPOSED, &stored).await);
    // And the other way round: registered typed in NFD, logging in in NFC.
    let registered = hasher
        .hash(&Password::parse(DECOMPOSED).unwrap())
        .await
        .unwrap();
    assert!(verifies(&hasher, PRECOMPOSED, &registered).await);
}
