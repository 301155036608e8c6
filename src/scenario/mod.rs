//! What one connection does.
