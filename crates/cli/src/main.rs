//! `velox-cache`: inspect and maintain a velox cache directory (see the `velox_cache` library).

fn main() {
    std::process::exit(velox_cache::main(std::env::args().skip(1)));
}
