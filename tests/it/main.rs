//! The C ABI's integration tests, one binary (each test binary is another link of the whole
//! dependency tree): one module per concept, each against the real library and, where a
//! build is involved, the fake Velox on 127.0.0.1.

mod c_programs;
mod ffi_status;
mod header;
mod health;
mod hostile_dir;
mod integrity;
mod logging;
mod pending_ffi;
mod resolve_ffi;
mod shutdown;
