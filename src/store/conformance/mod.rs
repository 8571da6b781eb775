//! One conformance suite that every backend passes: each function takes a fresh, empty store
//! and panics, naming what broke, if the store does not keep the trait's promises. The unit
//! tests run them against the embedded stores and `object_store`'s in-memory store; the
//! integration tests against PostgreSQL and Garage.

pub mod blobs;
pub mod keys;
pub mod meta;
pub mod notify;
pub mod retention;
