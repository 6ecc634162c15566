//! `headway-mio`: the headway node on the mio driver (sockets on one poll loop).

/// Large blocks allocated while the chain loads (the header tree and its index) on transparent
/// huge pages: see `headway-hugepages`.
#[global_allocator]
static ALLOCATOR: headway_hugepages::HugePageAlloc = headway_hugepages::HugePageAlloc;

fn main() -> std::process::ExitCode {
    headway::main::<headway_driver_mio::Driver>()
}
