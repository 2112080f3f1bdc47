//! The `gilsim` binary.

mod cli;

fn main() {
    // Rust ignores SIGPIPE, so `gilsim run … | head` would panic on the
    // first write after `head` exits. Restore the default, like every other
    // Unix filter: a closed pipe ends the process quietly.
    // SAFETY: called before any thread starts; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(cli::main());
}
