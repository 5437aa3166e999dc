//! The header parser, on any bytes a file may start with (as `Header::read`
//! reads them): an answer, never a panic; a parsed header's parts add up
//! without overflow and are block-aligned, `check_size` accepts exactly its
//! total; and a header of plain names reads back from the stub it renders.
#![no_main]

use floppies_format::header::{render_stub, Header, BLOCK};
use libfuzzer_sys::fuzz_target;

const STUB: &str = include_str!("../../stub.sh");

fn plain(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(h) = Header::parse(&text) else { return };
    let sum = h.stub_size.checked_add(h.helper_size).and_then(|n| n.checked_add(h.payload_size));
    assert_eq!(sum, Some(h.total_size()), "the parts add up: {h:?}");
    assert!(h.stub_size % BLOCK == 0 && h.helper_size % BLOCK == 0, "aligned: {h:?}");
    assert!(h.helper_offset() <= h.payload_offset() && h.payload_offset() <= h.total_size());
    let total = h.total_size();
    assert!(h.check_size(total).is_ok());
    assert!(total == 0 || h.check_size(total - 1).is_err(), "one byte short is truncated");
    assert!(total == u64::MAX || h.check_size(total + 1).is_err(), "one byte over is refused");
    if [&h.version, &h.profile, &h.arch, &h.helper_sha256, &h.payload_sha256].iter().all(|s| plain(s)) {
        // Room for the stub itself; a header that leaves none cannot be rendered back.
        if h.helper_size.checked_add(h.payload_size).and_then(|n| n.checked_add(1 << 20)).is_some() {
            let (stub, size) = render_stub(STUB, &h).expect("a header of plain names renders");
            assert_eq!(Header::parse(&stub).expect("a rendered stub parses"), Header { stub_size: size, ..h });
        }
    }
});
