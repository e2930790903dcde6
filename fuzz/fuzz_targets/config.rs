//! Any config text: loading never panics, and a config that loads has a policy that
//! keeps something.
#![no_main]

use docspace_retention::config::{LoadOptions, load_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut opts = LoadOptions::new("/nonexistent/fuzz.toml");
    opts.env = vec![("DOCSPACE_RETENTION_LOG__LEVEL".into(), "warn".into())];
    if let Ok(config) = load_str(text, &opts) {
        for p in &config.portals {
            assert!(p.retention.has_rules());
        }
    }
});
