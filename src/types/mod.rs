//! Values that cross layers: checked once where they come in, typed everywhere after.
//! This module imports nothing from the crate but [`crate::error`].

pub mod client;
pub mod clock;
pub mod date;
pub mod money;
pub mod names;
pub mod operation;
pub mod request_id;
pub mod rights;
pub mod text;
