//! Network groups and reachability of peer addresses (being written).
