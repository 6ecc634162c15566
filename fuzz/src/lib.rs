//! Fuzz targets for headway live in `fuzz_targets/` (issue 5).
