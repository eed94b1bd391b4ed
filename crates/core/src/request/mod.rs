//! The build request a PHP worker sends, its validation and its cache key.

mod key;
mod model;
mod parse;
pub(crate) mod strict_json;
mod validate;
mod velox;

pub use key::CacheKey;
pub use model::{BuildRequest, Exclude, Platform, Plugin, Replace};
pub use validate::MAX_BODY_BYTES;
