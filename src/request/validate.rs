//! Field rules: what Velox accepts, and nothing that could make two requests share a key.
