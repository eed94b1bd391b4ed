//! Log records for the host to drain (added with the Go shim).
