//! Mini Program login: crypto vectors and tampering, and the full flow against the sandbox.

mod crypto;
mod vectors;
