//! The command line (NUL-separated arguments): parsing, and the values berth converts.
#![no_main]
use berth::cli::{parse_bytes, parse_duration, Cli};
use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = std::iter::once("berth".to_string())
        .chain(data.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()))
        .collect();
    let _ = Cli::try_parse_from(&args);
    for a in &args {
        let _ = parse_duration(a);
        let _ = parse_bytes(a);
        let _ = berth::container::signal::parse(a);
    }
});
