//! Keeping op signed in.
