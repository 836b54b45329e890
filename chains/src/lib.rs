//! Chain data types, storage, the pure protocol machines and the
//! deterministic simulator (DESIGN.md §2). Filled in by the consensus work.
