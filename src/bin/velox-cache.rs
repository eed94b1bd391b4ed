//! `velox-cache`: inspect and maintain a velox cache directory (see `velox_middleware::cli`).

fn main() {
    std::process::exit(velox_middleware::cli::main(std::env::args().skip(1)));
}
