//! The `BlobStore` conformance suite.
