//! Mini Program login (`isMiniProgram` in the seed). Placeholder: filled in by the Mini Program work.

/// Why Mini Program `encryptedData` could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The session key is not 24 base64 characters of a 16-byte key (-41001).
    #[error("illegal session key (-41001)")]
    IllegalAesKey,
    /// The iv is not 24 base64 characters of a 16-byte iv (-41002).
    #[error("illegal iv (-41002)")]
    IllegalIv,
    /// The data did not decrypt to JSON carrying this app's watermark (-41003).
    #[error("illegal buffer (-41003)")]
    IllegalBuffer,
}
