//! Password protection: the proved PDF encrypted with AES-256 (the standard security
//! handler's revision 6, PDF 2.0), by `lopdf`.
//!
//! Why after the proof and not before it like the watermark: every reader of a proof (the
//! raster, the fonts, held jobs' pages) would need the password, and the service would have
//! to keep it for as long as the proof lives. So the plain PDF is proved, then encrypted, and
//! the encrypted file is proved again by the caller (PDFium opens it with the password; its
//! pages and text must be the proved ones) before it ships.
//!
//! Not reproducible, and the one exception to "the same job gives the same bytes": the file
//! key is drawn at random here, and `lopdf` draws the salts and each string's and stream's
//! IV, as AES-256 wants them. The plain PDF underneath is reproducible as always.

use std::collections::BTreeMap;
use std::sync::Arc;

use lopdf::encryption::crypt_filters::{Aes256CryptFilter, CryptFilter};
use lopdf::{EncryptionState, EncryptionVersion, Permissions};
use rand::RngExt as _;

use super::PostprocessError;
use crate::document::{Encryption, Permission};

/// Why an encryption request cannot be met: the client's mistake.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("encryption needs a password: give \"user_password\" (asked for to open the PDF), \"owner_password\" (asked for to lift its permissions), or both")]
    NoPassword,
    #[error("encryption: a password is at most {MAX_PASSWORD_BYTES} bytes of UTF-8 (AES-256 uses the first 127)")]
    TooLong,
}

/// The longest password: AES-256 (revision 6) uses at most 127 bytes of one.
pub const MAX_PASSWORD_BYTES: usize = 127;

/// Checks an encryption request before anything is printed.
pub fn check(encryption: &Encryption) -> Result<(), EncryptionError> {
    let owner = encryption.owner_password.as_deref().unwrap_or_default();
    if encryption.user_password.is_empty() && owner.is_empty() {
        return Err(EncryptionError::NoPassword);
    }
    if encryption.user_password.len() > MAX_PASSWORD_BYTES || owner.len() > MAX_PASSWORD_BYTES {
        return Err(EncryptionError::TooLong);
    }
    Ok(())
}

/// `pdf` encrypted as `encryption` asks.
pub fn encrypt(pdf: &[u8], encryption: &Encryption) -> Result<Vec<u8>, PostprocessError> {
    let err = |what| move |e: lopdf::Error| PostprocessError::new(what, e.to_string());
    let mut doc = lopdf::Document::load_mem(pdf).map_err(err("reading it to encrypt it"))?;
    let mut file_key = [0u8; 32];
    rand::rng().fill(&mut file_key);
    let filter: Arc<dyn CryptFilter> = Arc::new(Aes256CryptFilter);
    let user = encryption.user_password.as_str();
    let owner = encryption.owner_password.as_deref().filter(|o| !o.is_empty()).unwrap_or(user);
    let version = EncryptionVersion::V5 {
        encrypt_metadata: true,
        crypt_filters: BTreeMap::from([(b"StdCF".to_vec(), filter)]),
        file_encryption_key: &file_key,
        stream_filter: b"StdCF".to_vec(),
        string_filter: b"StdCF".to_vec(),
        owner_password: owner,
        user_password: user,
        permissions: permissions(encryption.permissions.as_deref()),
    };
    let state = EncryptionState::try_from(version)
        .map_err(|e| PostprocessError::new("setting up its encryption", e.to_string()))?;
    doc.encrypt(&state).map_err(err("encrypting it"))?;
    let mut out = Vec::with_capacity(pdf.len() + 1024);
    doc.save_to(&mut out).map_err(|e| PostprocessError::new("writing it encrypted", e.to_string()))?;
    Ok(out)
}

/// The password a reader of the encrypted file opens it with.
pub fn opening_password(encryption: &Encryption) -> &str {
    match encryption.user_password.as_str() {
        "" => encryption.owner_password.as_deref().unwrap_or_default(),
        user => user,
    }
}

fn permissions(given: Option<&[Permission]>) -> Permissions {
    let Some(given) = given else { return Permissions::all() };
    given.iter().fold(Permissions::empty(), |all, p| {
        all | match p {
            Permission::Print => Permissions::PRINTABLE,
            Permission::PrintHighQuality => Permissions::PRINTABLE | Permissions::PRINTABLE_IN_HIGH_QUALITY,
            Permission::Copy => Permissions::COPYABLE,
            Permission::Accessibility => Permissions::COPYABLE_FOR_ACCESSIBILITY,
            Permission::Modify => Permissions::MODIFIABLE,
            Permission::Annotate => Permissions::ANNOTABLE,
            Permission::FillForms => Permissions::FILLABLE,
            Permission::Assemble => Permissions::ASSEMBLABLE,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_needed_and_bounded() {
        let enc = |user: &str, owner: Option<&str>| Encryption {
            user_password: user.into(),
            owner_password: owner.map(Into::into),
            permissions: None,
        };
        assert!(matches!(check(&enc("", None)), Err(EncryptionError::NoPassword)));
        assert!(matches!(check(&enc("", Some(""))), Err(EncryptionError::NoPassword)));
        assert!(check(&enc("u", None)).is_ok() && check(&enc("", Some("o"))).is_ok());
        assert!(matches!(check(&enc(&"x".repeat(128), None)), Err(EncryptionError::TooLong)));
        assert_eq!(opening_password(&enc("", Some("o"))), "o");
        assert_eq!(opening_password(&enc("u", Some("o"))), "u");
        assert!(!format!("{:?}", enc("secret-u", Some("secret-o"))).contains("secret"), "Debug hides passwords");
    }

    #[test]
    fn permissions_are_what_was_given_or_all() {
        assert_eq!(permissions(None), Permissions::all());
        assert_eq!(permissions(Some(&[])), Permissions::empty());
        assert_eq!(
            permissions(Some(&[Permission::Copy, Permission::Print])),
            Permissions::COPYABLE | Permissions::PRINTABLE
        );
    }
}
