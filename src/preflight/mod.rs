//! Kernel and limit checks over a readable /proc root.
