//! The page (being written).
