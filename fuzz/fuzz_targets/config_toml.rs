//! The configuration file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = reinstate::config::Config::from_toml(text);
    }
});
