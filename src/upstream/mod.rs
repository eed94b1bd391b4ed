//! The Velox build server: a Connect JSON client with retries that follow the error.
