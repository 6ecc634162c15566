//! `headway-async-std`: the headway node on the async-std driver (a task per socket).

fn main() -> std::process::ExitCode {
    headway::main::<headway_driver_async_std::Driver>()
}
