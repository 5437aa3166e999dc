//! The `.run` file format: the stub's build-time constants and the three parts.
//!
//! ```text
//! offset 0            stub.sh with constants filled in, padded to STUB_SIZE (a multiple of 4096)
//! offset STUB_SIZE    the helper part, HELPER_SIZE bytes (a multiple of 4096; 0 if not carried)
//! STUB+HELPER         payload.tar.zst, PAYLOAD_SIZE bytes, up to the end of the file
//! ```
//! The helper as it runs is the static binary zero-padded to HELPER_RUN_SIZE
//! (a multiple of 4096); HELPER_SHA256 covers exactly that, PAYLOAD_SHA256
//! the payload part. HELPER_FORM says how the file holds it: `raw` (the part
//! is the helper: every full file), `gzip` (the part is it gzip'd, padded:
//! an update file whose helper changed), or `host` (no part: an update file
//! whose helper is byte-identical to the one its base installed at
//! HELPER_FROM, which the stub copies and checks). BASE_VERSION names an
//! update file's base release (empty in a full file). Files built before
//! these fields existed lack them and are `raw`, with no base. Alignment lets
//! the stub cut the helper out with `dd bs=4096` without reading the payload.

use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use std::io::Read;

use crate::error::{ExitCode, Failure};

/// Parts are aligned to this many bytes.
pub const BLOCK: u64 = 4096;
/// The constants must appear within this many bytes of the start.
const HEADER_SCAN: u64 = 8192;
/// Where every install puts its helper (the floppies-on-path step): an update
/// file that does not carry its helper names this path as HELPER_FROM.
pub const INSTALLED_HELPER: &str = "/opt/floppies/bin/floppies";

/// How a `.run` file holds its helper (HELPER_FORM).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HelperForm {
    /// The helper part is the helper (HELPER_SIZE = HELPER_RUN_SIZE).
    Raw,
    /// The helper part is the helper gzip'd, zero-padded to a block.
    Gzip,
    /// No helper part: the stub copies the one at HELPER_FROM on the host.
    Host,
}

impl HelperForm {
    pub fn name(self) -> &'static str {
        match self {
            HelperForm::Raw => "raw",
            HelperForm::Gzip => "gzip",
            HelperForm::Host => "host",
        }
    }

    fn parse(s: &str) -> Option<HelperForm> {
        [HelperForm::Raw, HelperForm::Gzip, HelperForm::Host].into_iter().find(|f| f.name() == s)
    }
}

/// The build-time constants at the top of a `.run` file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub version: String,
    pub profile: String,
    pub arch: String,
    pub stub_size: u64,
    /// Bytes of the helper part in this file (0 when the form is `host`).
    pub helper_size: u64,
    /// The sha256 of the helper as it runs (HELPER_RUN_SIZE bytes).
    pub helper_sha256: String,
    pub helper_form: HelperForm,
    /// The helper's size as it runs: the padded binary.
    pub helper_run_size: u64,
    /// Form `host`: the absolute path the base installed the helper at; else empty.
    pub helper_from: String,
    /// An update file's base version; empty in a full file.
    pub base_version: String,
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
        let to_num =
            |key: &str, v: String| -> Result<u64> { v.parse().map_err(|_| Failure::new(ExitCode::BadBundle, format!("{key} is not a number: '{v}'")).into()) };
        let num = |key: &str| -> Result<u64> { to_num(key, get(key)?) };
        // Absent in files built before they existed: a raw helper, no base.
        let optional = |key: &str| -> Result<Option<String>> {
            if text.lines().any(|l| l.starts_with(&format!("{key}="))) {
                get(key).map(Some)
            } else {
                Ok(None)
            }
        };
        let helper_size = num("HELPER_SIZE")?;
        let form_text = optional("HELPER_FORM")?.unwrap_or_else(|| "raw".into());
        let helper_form = HelperForm::parse(&form_text).ok_or_else(|| damaged(format!("HELPER_FORM is '{form_text}', not raw, gzip or host")))?;
        let helper_run_size = match optional("HELPER_RUN_SIZE")? {
            Some(v) => to_num("HELPER_RUN_SIZE", v)?,
            None => helper_size,
        };
        let header = Header {
            version: get("FLOPPIES_VERSION")?,
            profile: get("FLOPPIES_PROFILE")?,
            arch: get("FLOPPIES_ARCH")?,
            stub_size: num("STUB_SIZE")?,
            helper_size,
            helper_sha256: get("HELPER_SHA256")?,
            helper_form,
            helper_run_size,
            helper_from: optional("HELPER_FROM")?.unwrap_or_default(),
            base_version: optional("BASE_VERSION")?.unwrap_or_default(),
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
        header.check_helper()?;
        if !header.stub_size.is_multiple_of(BLOCK) || !header.helper_size.is_multiple_of(BLOCK) || !header.helper_run_size.is_multiple_of(BLOCK) {
            bail!(Failure::new(ExitCode::BadBundle, "the header's part sizes are not block-aligned"));
        }
        Ok(header)
    }

    /// Refuses a helper form whose other fields do not fit it, a HELPER_FROM
    /// that is not a plain absolute path (the stub reads it as root), and a
    /// BASE_VERSION that is not a plain name.
    fn check_helper(&self) -> Result<()> {
        let ok = match self.helper_form {
            HelperForm::Raw => self.helper_run_size == self.helper_size && self.helper_from.is_empty(),
            HelperForm::Gzip => self.helper_size > 0 && self.helper_run_size > 0 && self.helper_from.is_empty(),
            HelperForm::Host => self.helper_size == 0 && self.helper_run_size > 0 && is_plain_absolute(&self.helper_from),
        };
        if !ok {
            bail!(damaged(format!(
                "HELPER_FORM '{}' does not fit HELPER_SIZE {}, HELPER_RUN_SIZE {} and HELPER_FROM '{}'",
                self.helper_form.name(),
                self.helper_size,
                self.helper_run_size,
                self.helper_from
            )));
        }
        let plain = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(&c)) && !s.starts_with('.');
        if !plain(&self.base_version) {
            bail!(damaged(format!("BASE_VERSION '{}' is not a plain version", self.base_version)));
        }
        if self.helper_form == HelperForm::Host && self.base_version.is_empty() {
            bail!(damaged("the helper is taken from the host, but the header names no BASE_VERSION".to_string()));
        }
        Ok(())
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
            ("HELPER_FORM", self.helper_form.name().to_string()),
            ("HELPER_RUN_SIZE", self.helper_run_size.to_string()),
            ("HELPER_FROM", self.helper_from.clone()),
            ("BASE_VERSION", self.base_version.clone()),
            ("PAYLOAD_SIZE", self.payload_size.to_string()),
            ("PAYLOAD_SHA256", self.payload_sha256.clone()),
            ("TOTAL_SIZE", self.total_size().to_string()),
        ]
    }
}

fn damaged(what: String) -> Failure {
    Failure::new(ExitCode::BadBundle, what)
        .help("the file's header is damaged; copy the installer again and compare its sha256 with the one the vendor published")
}

/// `/a/b/c` of `[A-Za-z0-9._-]` names, none of them `.` or `..`: safe inside
/// the stub's single quotes and free of tricks.
pub fn is_plain_absolute(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 256
        && path[1..].split('/').all(|p| !p.is_empty() && p != "." && p != ".." && p.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)))
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
            helper_form: HelperForm::Raw,
            helper_run_size: 8192,
            helper_from: String::new(),
            base_version: String::new(),
            payload_size: 1000,
            payload_sha256: "cd".repeat(32),
        }
    }

    const TEMPLATE: &str = "#!/bin/sh\nFLOPPIES_VERSION='@FLOPPIES_VERSION@'\nFLOPPIES_PROFILE='@FLOPPIES_PROFILE@'\nFLOPPIES_ARCH='@FLOPPIES_ARCH@'\nSTUB_SIZE=@STUB_SIZE@\nHELPER_SIZE=@HELPER_SIZE@\nHELPER_SHA256='@HELPER_SHA256@'\nHELPER_FORM='@HELPER_FORM@'\nHELPER_RUN_SIZE=@HELPER_RUN_SIZE@\nHELPER_FROM='@HELPER_FROM@'\nBASE_VERSION='@BASE_VERSION@'\nPAYLOAD_SIZE=@PAYLOAD_SIZE@\nPAYLOAD_SHA256='@PAYLOAD_SHA256@'\nTOTAL_SIZE=@TOTAL_SIZE@\n@PADDING@\nmain \"$@\" || exit 1\n";

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

    /// An update file's helper forms: each parses back; each misfit is damage.
    #[test]
    fn helper_forms_parse_back_and_misfits_are_refused() {
        let host =
            Header { helper_form: HelperForm::Host, helper_size: 0, helper_from: INSTALLED_HELPER.into(), base_version: "0.0.1-test".into(), ..sample() };
        let gzip = Header { helper_form: HelperForm::Gzip, helper_size: 4096, base_version: "0.0.1".into(), ..sample() };
        for h in [&host, &gzip] {
            let (text, size) = render_stub(TEMPLATE, h).unwrap();
            assert_eq!(Header::parse(&text).unwrap(), Header { stub_size: size, ..h.clone() });
        }
        let misfits = [
            (Header { helper_size: 4096, ..host.clone() }, "does not fit"),
            (Header { helper_from: String::new(), ..host.clone() }, "does not fit"),
            (Header { helper_from: "/opt/../etc/shadow".into(), ..host.clone() }, "does not fit"),
            (Header { helper_from: "/opt/x'; rm -rf /'".into(), ..host.clone() }, "does not fit"),
            (Header { helper_from: "opt/floppies".into(), ..host.clone() }, "does not fit"),
            (Header { base_version: String::new(), ..host.clone() }, "names no BASE_VERSION"),
            (Header { base_version: "../x".into(), ..host.clone() }, "not a plain version"),
            (Header { helper_size: 0, ..gzip.clone() }, "does not fit"),
            (Header { helper_from: INSTALLED_HELPER.into(), ..gzip.clone() }, "does not fit"),
            (Header { helper_run_size: 4096, ..sample() }, "does not fit"),
            (Header { helper_run_size: 4097, helper_form: HelperForm::Gzip, ..sample() }, "block-aligned"),
        ];
        for (h, says) in misfits {
            let (text, _) = render_stub(TEMPLATE, &h).unwrap();
            let err = format!("{:#}", Header::parse(&text).unwrap_err());
            assert!(err.contains(says), "{h:?}: {err}");
        }
        let (text, _) = render_stub(TEMPLATE, &sample()).unwrap();
        let bad = text.replacen("HELPER_FORM='raw'", "HELPER_FORM='zstd'", 1);
        assert!(format!("{:#}", Header::parse(&bad).unwrap_err()).contains("not raw, gzip or host"));
    }

    /// A file built before HELPER_FORM, HELPER_RUN_SIZE, HELPER_FROM and
    /// BASE_VERSION existed (an old base) reads as a raw helper, no base.
    #[test]
    fn an_older_header_is_a_raw_helper() {
        let (text, size) = render_stub(TEMPLATE, &sample()).unwrap();
        let old: String = text
            .lines()
            .filter(|l| !["HELPER_FORM=", "HELPER_RUN_SIZE=", "HELPER_FROM=", "BASE_VERSION="].iter().any(|k| l.starts_with(k)))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!old.contains("HELPER_FORM"));
        assert_eq!(Header::parse(&old).unwrap(), Header { stub_size: size, ..sample() });
    }

    #[test]
    fn plain_absolute_paths() {
        assert!(is_plain_absolute(INSTALLED_HELPER));
        for bad in ["", "/", "relative/x", "/a//b", "/a/./b", "/a/../b", "/a/b c", "/a/'b", "/a/$(x)", "/a/\nb"] {
            assert!(!is_plain_absolute(bad), "{bad:?}");
        }
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
            "HELPER_RUN_SIZE",
        ];
        const FORMS: &[&str] = &["raw", "gzip", "host", "zstd"];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any text: an answer, never a panic.
            #[test]
            fn parse_never_panics_on_any_text(text in any::<String>()) {
                let _ = Header::parse(&text);
            }

            /// Header-shaped text with any numbers: a parsed header's parts add up without overflow.
            #[test]
            fn a_parsed_header_is_consistent(
                values in proptest::collection::vec(any::<u64>(), 10),
                pick in any::<u64>(),
                form in 0usize..5,
                from in prop_oneof![Just(String::new()), Just(INSTALLED_HELPER.to_string()), "[ -~]{0,20}"],
                base in prop_oneof![Just(String::new()), Just("0.0.1".to_string()), "[ -~]{0,12}"],
            ) {
                let mut text: String = KEYS.iter().zip(&values).map(|(k, v)| {
                    // Sometimes the real sum for TOTAL_SIZE, so some headers parse.
                    let v = if *k == "TOTAL_SIZE" && pick % 2 == 0 { values[3].wrapping_add(values[4]).wrapping_add(values[6]) } else { *v };
                    // Sometimes a run size that fits, or a host form's empty part.
                    let v = if *k == "HELPER_RUN_SIZE" && pick % 3 == 0 { values[4] } else { v };
                    let v = if *k == "HELPER_SIZE" && pick % 5 == 0 { 0 } else { v };
                    format!("{k}={v}\n")
                }).collect();
                if let Some(f) = FORMS.get(form) {
                    text.push_str(&format!("HELPER_FORM='{f}'\nHELPER_FROM='{from}'\nBASE_VERSION='{base}'\n"));
                }
                if let Ok(h) = Header::parse(&text) {
                    let sum = h.stub_size.checked_add(h.helper_size).and_then(|n| n.checked_add(h.payload_size));
                    prop_assert_eq!(sum, Some(h.total_size()));
                    prop_assert!(h.stub_size % BLOCK == 0 && h.helper_size % BLOCK == 0 && h.helper_run_size % BLOCK == 0);
                    match h.helper_form {
                        HelperForm::Raw => prop_assert!(h.helper_run_size == h.helper_size && h.helper_from.is_empty()),
                        HelperForm::Gzip => prop_assert!(h.helper_size > 0 && h.helper_from.is_empty()),
                        HelperForm::Host => prop_assert!(h.helper_size == 0 && is_plain_absolute(&h.helper_from) && !h.base_version.is_empty()),
                    }
                    prop_assert!(!h.base_version.contains(['/', '\'', ' ']));
                    let _ = h.check_size(pick);
                }
            }

            /// Every helper form render_stub writes, parse reads back.
            #[test]
            fn rendered_helper_forms_parse_back(form in 0usize..3, run_blocks in 1u64..1 << 20, part_blocks in 1u64..1 << 20, base in "[0-9]{1,2}\\.[0-9]{1,2}(-test)?") {
                let h = match form {
                    0 => Header { helper_size: run_blocks * BLOCK, helper_run_size: run_blocks * BLOCK, ..sample() },
                    1 => Header { helper_form: HelperForm::Gzip, helper_size: part_blocks * BLOCK, helper_run_size: run_blocks * BLOCK, base_version: base, ..sample() },
                    _ => Header { helper_form: HelperForm::Host, helper_size: 0, helper_run_size: run_blocks * BLOCK, helper_from: INSTALLED_HELPER.into(), base_version: base, ..sample() },
                };
                let (text, size) = render_stub(TEMPLATE, &h).unwrap();
                prop_assert_eq!(Header::parse(&text).unwrap(), Header { stub_size: size, ..h });
            }

            /// What render_stub writes, parse reads back.
            #[test]
            fn rendered_headers_parse_back(helper_blocks in 0u64..1 << 30, payload_size in 0u64..1 << 50, version in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-test)?") {
                let h = Header { version, helper_size: helper_blocks * BLOCK, helper_run_size: helper_blocks * BLOCK, payload_size, ..sample() };
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
        let named = [("EXIT_FAILED", 1u8), ("EXIT_USAGE", 2), ("EXIT_DAMAGED", 3), ("EXIT_PREFLIGHT", 4)];
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
