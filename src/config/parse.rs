//! JSON -> [`Config`], with the seed plugin's defaults and a named error for every bad key.

use super::Config;
use crate::error::Result;

pub(super) fn parse(_json: &[u8]) -> Result<Config> {
    todo!("config: parse")
}
