//! DNS seeds and fixed seed addresses of each network (being written).
