//! sanduq: a hardened drop box for testimonies.
//!
//! The server encrypts every byte a source sends with age, as it arrives, to the public keys
//! of the editors of the chosen desk, and keeps only ciphertext. Editors fetch the ciphertext
//! with the CLI and decrypt it offline. Everything testable lives in this library; the binary
//! only parses arguments and calls in here.
#![forbid(unsafe_code)]

pub mod cli;
pub mod codename;
pub mod config;
pub mod crypto;
pub mod designation;
pub mod forms;
#[doc(hidden)]
pub mod fuzzing;
pub mod i18n;
pub mod ids;
pub mod intake;
pub mod notify;
pub mod pq;
pub mod store;
pub mod tokens;
pub mod web;
mod wipe;
