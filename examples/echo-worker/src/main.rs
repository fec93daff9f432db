//! The `echo` provider as a worker process: `echo-worker --socket PATH` or
//! `echo-worker --schemas`.

fn main() -> std::process::ExitCode {
    pragma_sdk::worker::worker_main(echo_worker::provider())
}
