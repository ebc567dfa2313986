//! The `pathway` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    keep_large_allocations_out_of_the_heap();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pathway: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cli = pathway::cli::Cli::parse();
    runtime.block_on(pathway::cli::run(cli))
}

/// glibc raises its mmap threshold to the size of the largest block freed so far (up to
/// 32 MiB). After the first sign-in, every argon2 hash (19 MiB of working memory, on a
/// blocking thread with its own malloc arena) is then carved out of an arena, and each arena
/// keeps those pages after the free: eight sign-ins at once left the server at 175 MB for
/// good. A fixed threshold turns that off, so blocks of 1 MiB and more are mapped for their
/// own use and handed back to the kernel when freed.
fn keep_large_allocations_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
