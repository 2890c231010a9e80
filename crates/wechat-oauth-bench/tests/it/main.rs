//! The benchmark suite's smoke run: every scenario with tiny counts, so the suite cannot
//! rot. It asserts that each scenario runs and yields sane figures, and that the refresh
//! storm's counts hold; it asserts nothing about speed.

mod smoke;
mod state_rows;
