//! Log records from the library, queued for the host to drain (no callbacks: purego-friendly).
