//! `config.json`: `ConditionalDetrConfig::from_json` (CLI `--config`, the page, configs embedded in
//! checkpoints), then what the CLI and the page do with a valid one: the labels and `to_json` (exports),
//! which must parse back.
#![no_main]
use cdetr::ConditionalDetrConfig;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let text = common::text(data);
    let r = ConditionalDetrConfig::from_json(&text, "config.json");
    common::show("from_json", &r);
    if let Ok(config) = r {
        let _ = config.labels();
        let json = config.to_json();
        if let Err(e) = ConditionalDetrConfig::from_json(&json, "exported config.json") {
            panic!("a valid config does not read back after to_json: {e}\n{json}");
        }
    }
});
