//! The `MetaStore` conformance suite.
