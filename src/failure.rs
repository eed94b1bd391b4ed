//! What a fallible export fails with: an error of the engine, or a NULL where the header
//! requires a pointer. The second is a fault of the C caller that no other host of
//! velox-core can make, so it lives here rather than in the engine's `Error`.

use std::fmt;

use velox_core::error::Error;

pub(crate) enum Failure {
    /// The required pointer parameter of this name was NULL.
    NullArgument(&'static str),
    /// The engine's answer.
    Engine(Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Engine(err)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NullArgument(name) => write!(f, "required argument `{name}` is NULL"),
            Failure::Engine(err) => err.fmt(f),
        }
    }
}
