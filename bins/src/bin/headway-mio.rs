//! `headway-mio`: the headway node on the mio driver (sockets on one poll loop).

fn main() -> std::process::ExitCode {
    headway::main::<headway_driver_mio::Driver>()
}
