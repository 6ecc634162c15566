//! `headway-async-std`: the headway node on the async-std driver (a task per socket).

/// Large blocks allocated while the chain loads (the header tree and its index) on transparent
/// huge pages: see `headway-hugepages`.
#[global_allocator]
static ALLOCATOR: headway_hugepages::HugePageAlloc = headway_hugepages::HugePageAlloc;

fn main() -> std::process::ExitCode {
    // Before anything starts async-std: headway is the only user of its runtime here.
    headway_driver_async_std::init_runtime();
    headway::main::<headway_driver_async_std::Driver>()
}
