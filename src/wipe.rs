//! Wiping what `Drop` cannot reach. `zeroize` wipes a key where it lies when it is dropped,
//! but the functions that computed it (argon2's block mixing, HKDF, X25519 and ML-KEM key
//! set-up, age's decryption) leave copies in their stack frames when they return, and a
//! blocking thread's stack lives on for the next task. Work on a source's secrets therefore
//! runs on a blocking thread and ends with [`scrub_stack`].

use zeroize::Zeroize as _;

/// How much of the stack [`scrub_stack`] overwrites: more than a derivation or a reply's
/// decryption uses, well within a blocking thread's 2 MiB stack.
const SCRUBBED_STACK: usize = 256 * 1024;

/// Overwrites the stack below the caller's frame, where the frames of the functions it
/// called lay. Zeroize's volatile writes are not optimised away.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut area = [0u8; SCRUBBED_STACK];
    area.zeroize();
    std::hint::black_box(&area);
}
