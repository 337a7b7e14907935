//! state.json as berth saves it (and a corrupt or hostile one).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = serde_json::from_slice::<berth::container::State>(data) {
        let _ = serde_json::to_vec(&berth::container::OciState::of(s.clone(), berth::container::Status::Running));
        let _ = serde_json::to_vec(&s);
    }
});
