//! The C ABI: a thin skin over [`velox_core::engine::Engine`]. Each file is one concept of
//! `include/velox_middleware.h`. Nothing here decides anything; it converts pointers,
//! catches panics and maps errors to `vxm_status` (in `status.rs`, once).
//!
//! Every export runs inside the panic boundary (`boundary.rs`), so a Rust panic becomes
//! `VXM_STATUS_PANIC` (or the export's documented fallback) and never unwinds into the
//! host; pointer arguments are checked by `args.rs`.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub(crate) mod args;
pub mod artifact;
pub(crate) mod boundary;
pub mod cache;
pub mod cancel;
pub mod drain;
pub mod engine;
pub mod error;
mod failure;
pub mod health;
pub mod limits;
pub mod log;
pub mod pending;
pub mod resolve;
pub mod status;
pub mod strings;
