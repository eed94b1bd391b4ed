//! The build request a PHP worker sends, its validation and its cache key.

mod key;
mod model;
mod validate;

pub use key::CacheKey;
pub use model::{BuildRequest, Platform, Plugin};
