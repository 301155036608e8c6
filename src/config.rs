//! Validated configuration: the only input the engine and server accept.
