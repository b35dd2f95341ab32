//! What the two sources say of people together.
