//! The `hbwatch` binary; everything lives in the library.
fn main() -> std::process::ExitCode {
    hbwatch::commands::main()
}
