//! The `.run` file format: the stub's build-time constants and the three parts.
//!
//! ```text
//! offset 0            stub.sh with constants filled in, padded to STUB_SIZE (a multiple of 4096)
//! offset STUB_SIZE    the helper binary, zero-padded to HELPER_SIZE (a multiple of 4096)
//! STUB+HELPER         payload.tar.zst, PAYLOAD_SIZE bytes, up to the end of the file
//! ```
//! HELPER_SHA256 covers the padded helper part, PAYLOAD_SHA256 the payload part.
//! Alignment lets the stub cut the helper out with `dd bs=4096` without
//! reading the payload.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use std::io::Read;

use crate::error::{ExitCode, Failure};

/// Parts are aligned to this many bytes.
pub const BLOCK: u64 = 4096;
/// The constants must appear within this many bytes of the start.
const HEADER_SCAN: u64 = 8192;

/// The build-time constants at the top of a `.run` file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub version: String,
    pub profile: String,
    pub arch: String,
    pub stub_size: u64,
    pub helper_size: u64,
    pub helper_sha256: String,
    pub payload_size: u64,
    pub payload_sha256: String,
}

impl Header {
    pub fn helper_offset(&self) -> u64 {
        self.stub_size
    }

    /// Saturating: `parse` refuses sizes whose sum does not fit, so this only
    /// saturates for a Header built by hand, and then no file is that large.
    pub fn payload_offset(&self) -> u64 {
        self.stub_size.saturating_add(self.helper_size)
    }

    pub fn total_size(&self) -> u64 {
        self.payload_offset().saturating_add(self.payload_size)
    }

    /// Reads the constants from the start of a `.run` file.
    pub fn read(path: &Utf8Path) -> Result<Header> {
        let file = std::fs::File::open(path).with_context(|| format!("could not open '{path}'"))?;
        let mut head = Vec::new();
        file.take(HEADER_SCAN).read_to_end(&mut head).with_context(|| format!("could not read '{path}'"))?;
        let text = String::from_utf8_lossy(&head);
        Header::parse(&text).with_context(|| format!("'{path}' is not a floppies installer"))
    }

    /// Parses `NAME=value` / `NAME='value'` lines; the first of each wins.
    pub fn parse(text: &str) -> Result<Header> {
        let get = |key: &str| -> Result<String> {
            let prefix = format!("{key}=");
            let line = text.lines().find(|l| l.starts_with(&prefix)).ok_or_else(|| Failure::new(ExitCode::BadBundle, format!("the header has no {key}")))?;
            let value = line[prefix.len()..].trim_matches('\'');
            if value.starts_with('@') {
                bail!(Failure::new(ExitCode::BadBundle, "this is the stub template, not a built installer")
                    .help("build an installer with 'make' or 'make test-bundle'"));
            }
            Ok(value.to_string())
        };
        let num = |key: &str| -> Result<u64> {
            let v = get(key)?;
            v.parse().map_err(|_| Failure::new(ExitCode::BadBundle, format!("{key} is not a number: '{v}'")).into())
        };
        let header = Header {
            version: get("FLOPPIES_VERSION")?,
            profile: get("FLOPPIES_PROFILE")?,
            arch: get("FLOPPIES_ARCH")?,
            stub_size: num("STUB_SIZE")?,
            helper_size: num("HELPER_SIZE")?,
            helper_sha256: get("HELPER_SHA256")?,
            payload_size: num("PAYLOAD_SIZE")?,
            payload_sha256: get("PAYLOAD_SHA256")?,
        };
        let sum = header.stub_size.checked_add(header.helper_size).and_then(|n| n.checked_add(header.payload_size));
        if sum.is_none() {
            bail!(Failure::new(
                ExitCode::BadBundle,
                format!(
                    "the header's sizes overflow: STUB_SIZE {} + HELPER_SIZE {} + PAYLOAD_SIZE {} is more than 2^64 bytes",
                    header.stub_size, header.helper_size, header.payload_size
                )
            )
            .help("the file's header is damaged; copy the installer again and compare its sha256 with the one the vendor published"));
        }
        if num("TOTAL_SIZE")? != header.total_size() {
            bail!(Failure::new(ExitCode::BadBundle, "the header's TOTAL_SIZE is not the sum of its parts"));
        }
        if !header.stub_size.is_multiple_of(BLOCK) || !header.helper_size.is_multiple_of(BLOCK) {
            bail!(Failure::new(ExitCode::BadBundle, "the header's part sizes are not block-aligned"));
        }
        Ok(header)
    }

    /// Refuses a file whose size is not the sum of its parts.
    pub fn check_size(&self, actual: u64) -> Result<()> {
        let expected = self.total_size();
        if actual < expected {
            let part = if actual < self.payload_offset() { "helper" } else { "payload" };
            bail!(Failure::new(ExitCode::BadBundle, format!("the file is truncated: {actual} bytes of {expected} (the {part} part is incomplete)"))
                .help("copy the installer again and compare its sha256 with the one the vendor published"));
        }
        if actual > expected {
            bail!(Failure::new(ExitCode::BadBundle, format!("the file has {} unexpected bytes after the payload part", actual - expected))
                .help("copy the installer again and compare its sha256 with the one the vendor published"));
        }
        Ok(())
    }

    /// The constant lines a built stub starts with, in template order.
    pub fn substitutions(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FLOPPIES_VERSION", self.version.clone()),
            ("FLOPPIES_PROFILE", self.profile.clone()),
            ("FLOPPIES_ARCH", self.arch.clone()),
            ("STUB_SIZE", self.stub_size.to_string()),
            ("HELPER_SIZE", self.helper_size.to_string()),
            ("HELPER_SHA256", self.helper_sha256.clone()),
            ("PAYLOAD_SIZE", self.payload_size.to_string()),
            ("PAYLOAD_SHA256", self.payload_sha256.clone()),
            ("TOTAL_SIZE", self.total_size().to_string()),
        ]
    }
}

/// Rounds up to the next block boundary.
pub fn align(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

/// Fills the template's `@NAME@` placeholders and pads `@PADDING@` so that the
/// stub is exactly `header.stub_size` bytes; picks `stub_size` itself.
pub fn render_stub(template: &str, header: &Header) -> Result<(String, u64)> {
    if !template.contains("@PADDING@\n") {
        bail!("the stub template has no '@PADDING@' line");
    }
    let mut h = header.clone();
    h.stub_size = BLOCK;
    loop {
        let mut text = template.to_string();
        for (key, value) in h.substitutions() {
            text = text.replace(&format!("@{key}@"), &value);
        }
        text = text.replace("@EXIT_CODES@", &crate::error::exit_codes_line(72));
        if let Some(name) = leftover_placeholder(&text) {
            bail!("the stub template has an unknown placeholder '@{name}@'");
        }
        let bare = text.len() as u64 - "@PADDING@\n".len() as u64;
        let size = align(bare);
        if size != h.stub_size {
            h.stub_size = size;
            continue;
        }
        let padding = padding(size - bare);
        let out = text.replacen("@PADDING@\n", &padding, 1);
        debug_assert_eq!(out.len() as u64, size);
        return Ok((out, size));
    }
}

/// The first `@NAME@` other than `@PADDING@` left in a rendered template.
fn leftover_placeholder(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(start) = text[i..].find('@').map(|p| p + i) {
        let name_len = bytes[start + 1..].iter().take_while(|b| b.is_ascii_uppercase() || **b == b'_').count();
        let end = start + 1 + name_len;
        if name_len > 1 && bytes.get(end) == Some(&b'@') && &text[start + 1..end] != "PADDING" {
            return Some(&text[start + 1..end]);
        }
        i = start + 1;
    }
    None
}

/// Exactly `n` bytes of shell comment lines.
fn padding(n: u64) -> String {
    let mut out = String::with_capacity(n as usize);
    let mut left = n as usize;
    while left > 0 {
        let line = left.min(64);
        match line {
            1 => out.push('\n'),
            _ => {
                out.push('#');
                out.push_str(&" ".repeat(line - 2));
                out.push('\n');
            }
        }
        left -= line;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            version: "1.2.3".into(),
            profile: "test".into(),
            arch: "x86_64".into(),
            stub_size: 0,
            helper_size: 8192,
            helper_sha256: "ab".repeat(32),
            payload_size: 1000,
            payload_sha256: "cd".repeat(32),
        }
    }

    const TEMPLATE: &str = "#!/bin/sh\nFLOPPIES_VERSION='@FLOPPIES_VERSION@'\nFLOPPIES_PROFILE='@FLOPPIES_PROFILE@'\nFLOPPIES_ARCH='@FLOPPIES_ARCH@'\nSTUB_SIZE=@STUB_SIZE@\nHELPER_SIZE=@HELPER_SIZE@\nHELPER_SHA256='@HELPER_SHA256@'\nPAYLOAD_SIZE=@PAYLOAD_SIZE@\nPAYLOAD_SHA256='@PAYLOAD_SHA256@'\nTOTAL_SIZE=@TOTAL_SIZE@\n@PADDING@\nmain \"$@\" || exit 1\n";

    #[test]
    fn rendered_stub_is_aligned_and_parses_back() {
        let (text, size) = render_stub(TEMPLATE, &sample()).unwrap();
        assert_eq!(text.len() as u64, size);
        assert_eq!(size % BLOCK, 0);
        let parsed = Header::parse(&text).unwrap();
        assert_eq!(parsed, Header { stub_size: size, ..sample() });
        assert!(text.ends_with("main \"$@\" || exit 1\n"));
    }

    #[test]
    fn unknown_placeholders_are_found_but_shell_at_signs_are_not() {
        assert_eq!(leftover_placeholder("main \"$@\" || x @FOO_BAR@"), Some("FOO_BAR"));
        assert_eq!(leftover_placeholder("main \"$@\" || exit 1 @PADDING@ a@b"), None);
    }

    #[test]
    fn padding_has_exact_length() {
        for n in [0, 1, 2, 3, 63, 64, 65, 4095] {
            assert_eq!(padding(n).len() as u64, n, "n={n}");
        }
    }

    #[test]
    fn template_itself_is_refused() {
        let err = Header::parse(TEMPLATE).unwrap_err();
        assert!(format!("{err:#}").contains("stub template"), "{err:#}");
    }

    #[test]
    fn huge_sizes_are_named_as_damage_not_a_panic() {
        let (text, _) = render_stub(TEMPLATE, &sample()).unwrap();
        let max = u64::MAX.to_string();
        for key in ["STUB_SIZE", "HELPER_SIZE", "PAYLOAD_SIZE"] {
            let line = text.lines().find(|l| l.starts_with(&format!("{key}="))).unwrap();
            // Aligned, so only the sum is wrong: u64::MAX rounded down to a block.
            let huge = format!("{key}={}", u64::MAX / BLOCK * BLOCK);
            let bad = text.replacen(line, &huge, 1);
            let err = format!("{:#}", Header::parse(&bad).unwrap_err());
            assert!(err.contains("the header's sizes overflow") && err.contains(key), "{key}: {err}");
        }
        let bad = text.replacen(text.lines().find(|l| l.starts_with("STUB_SIZE=")).unwrap(), &format!("STUB_SIZE={max}0"), 1);
        assert!(format!("{:#}", Header::parse(&bad).unwrap_err()).contains("STUB_SIZE is not a number"));
    }

    #[test]
    fn size_mismatch_names_the_part() {
        let h = Header { stub_size: 4096, ..sample() };
        assert!(h.check_size(h.total_size()).is_ok());
        let short = format!("{:#}", h.check_size(h.total_size() - 1).unwrap_err());
        assert!(short.contains("payload part"), "{short}");
        let very_short = format!("{:#}", h.check_size(5000).unwrap_err());
        assert!(very_short.contains("helper part"), "{very_short}");
        let long = format!("{:#}", h.check_size(h.total_size() + 3).unwrap_err());
        assert!(long.contains("3 unexpected bytes"), "{long}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const KEYS: &[&str] = &[
            "FLOPPIES_VERSION",
            "FLOPPIES_PROFILE",
            "FLOPPIES_ARCH",
            "STUB_SIZE",
            "HELPER_SIZE",
            "HELPER_SHA256",
            "PAYLOAD_SIZE",
            "PAYLOAD_SHA256",
            "TOTAL_SIZE",
        ];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any text: an answer, never a panic.
            #[test]
            fn parse_never_panics_on_any_text(text in any::<String>()) {
                let _ = Header::parse(&text);
            }

            /// Header-shaped text with any numbers: a parsed header's parts add up without overflow.
            #[test]
            fn a_parsed_header_is_consistent(values in proptest::collection::vec(any::<u64>(), 9), pick in any::<u64>()) {
                let text: String = KEYS.iter().zip(&values).map(|(k, v)| {
                    // Sometimes the real sum for TOTAL_SIZE, so some headers parse.
                    let v = if *k == "TOTAL_SIZE" && pick % 2 == 0 { values[3].wrapping_add(values[4]).wrapping_add(values[6]) } else { *v };
                    format!("{k}={v}\n")
                }).collect();
                if let Ok(h) = Header::parse(&text) {
                    let sum = h.stub_size.checked_add(h.helper_size).and_then(|n| n.checked_add(h.payload_size));
                    prop_assert_eq!(sum, Some(h.total_size()));
                    prop_assert!(h.stub_size % BLOCK == 0 && h.helper_size % BLOCK == 0);
                    let _ = h.check_size(pick);
                }
            }

            /// What render_stub writes, parse reads back.
            #[test]
            fn rendered_headers_parse_back(helper_blocks in 0u64..1 << 30, payload_size in 0u64..1 << 50, version in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-test)?") {
                let h = Header { version, helper_size: helper_blocks * BLOCK, payload_size, ..sample() };
                let (text, size) = render_stub(TEMPLATE, &h).unwrap();
                prop_assert_eq!(Header::parse(&text).unwrap(), Header { stub_size: size, ..h });
            }
        }
    }

    /// The stub's own exit codes are the ones in the shared list, and its
    /// help is filled from that list.
    #[test]
    fn the_stub_uses_the_shared_exit_codes() {
        let stub = include_str!("../../stub.sh");
        let named = [("EXIT_FAILED", 1u8), ("EXIT_USAGE", 2), ("EXIT_DAMAGED", 3)];
        for (name, code) in named {
            assert!(stub.contains(&format!("\n{name}={code}\n")), "stub.sh sets {name}={code}");
            assert!(crate::error::EXIT_CODES.iter().any(|(n, _, _)| *n == code));
        }
        assert_eq!(stub.lines().filter(|l| l.starts_with("EXIT_")).count(), named.len(), "every EXIT_ constant of stub.sh is checked here");
        let header = sample();
        let (text, _) = render_stub(stub, &header).unwrap();
        assert!(text.contains(&crate::error::exit_codes_line(72)), "the stub's help lists the shared exit codes");
    }
}
