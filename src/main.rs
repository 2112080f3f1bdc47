//! The `gilsim` binary.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
