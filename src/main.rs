//! Thin entry point: everything lives in the library so integration tests and
//! the drop-in names share one code path.

fn main() {
    std::process::exit(cloud_credential_provider::main());
}
