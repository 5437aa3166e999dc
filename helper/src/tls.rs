//! The per-deployment CA and the server certificate the ingress presents.
//! Made once; a customer's own certificate and key replace the server pair.

use anyhow::{Context, Result};
use camino::Utf8Path;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use std::fs;

use crate::files::{private_dir, write_private};

/// Creates ca.crt/ca.key/server.crt/server.key in DIR if missing; true if it made any.
pub fn ensure(dir: &Utf8Path) -> Result<bool> {
    private_dir(dir, 0o700)?;
    if dir.join("server.crt").is_file() && dir.join("server.key").is_file() {
        return Ok(false);
    }
    let (names, ips) = host_names();
    let ca_key = KeyPair::generate().context("could not generate the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params.distinguished_name.push(DnType::CommonName, format!("floppies CA for {}", names[0]));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let ca = ca_params.self_signed(&ca_key).context("could not sign the CA")?;

    let key = KeyPair::generate().context("could not generate the server key")?;
    let mut params = CertificateParams::new(names.clone()).context("server certificate parameters")?;
    params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.distinguished_name.push(DnType::CommonName, names[0].clone());
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let cert = params.signed_by(&key, &ca, &ca_key).context("could not sign the server certificate")?;

    write_private(&dir.join("ca.key"), &ca_key.serialize_pem())?;
    fs::write(dir.join("ca.crt"), ca.pem()).with_context(|| format!("could not write '{dir}/ca.crt'"))?;
    write_private(&dir.join("server.key"), &key.serialize_pem())?;
    fs::write(dir.join("server.crt"), cert.pem()).with_context(|| format!("could not write '{dir}/server.crt'"))?;
    Ok(true)
}

/// Installs the customer's certificate and key as the server pair (CA files removed).
pub fn install_customer(cert: &Utf8Path, key: &Utf8Path, dir: &Utf8Path) -> Result<bool> {
    let (cert_pem, key_pem) = read_customer(cert, key)?;
    private_dir(dir, 0o700)?;
    write_private(&dir.join("server.key"), &key_pem)?;
    fs::write(dir.join("server.crt"), &cert_pem).with_context(|| format!("could not write '{dir}/server.crt'"))?;
    // Our CA did not sign it: clients trust the customer's own CA instead.
    for ours in ["ca.crt", "ca.key"] {
        let _ = fs::remove_file(dir.join(ours));
    }
    Ok(true)
}

/// True when DIR already holds exactly this certificate and key.
pub fn same_as_installed(cert: &Utf8Path, key: &Utf8Path, dir: &Utf8Path) -> Result<bool> {
    let (c, k) = read_customer(cert, key)?;
    Ok(fs::read_to_string(dir.join("server.crt")).ok().as_deref() == Some(c.as_str())
        && fs::read_to_string(dir.join("server.key")).ok().as_deref() == Some(k.as_str()))
}

/// Reads and sanity-checks a PEM certificate and key, naming what is wrong.
fn read_customer(cert: &Utf8Path, key: &Utf8Path) -> Result<(String, String)> {
    let cert_pem = fs::read_to_string(cert).with_context(|| format!("could not read the certificate '{cert}'"))?;
    let key_pem = fs::read_to_string(key).with_context(|| format!("could not read the key '{key}'"))?;
    if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!(floppies_format::error::Failure::new(floppies_format::error::ExitCode::Usage, format!("'{cert}' holds no PEM certificate"))
            .help("pass the certificate (and its chain) in PEM form with --tls-cert"));
    }
    if !key_pem.contains("PRIVATE KEY-----") {
        anyhow::bail!(floppies_format::error::Failure::new(floppies_format::error::ExitCode::Usage, format!("'{key}' holds no PEM private key"))
            .help("pass the unencrypted PEM private key with --tls-key"));
    }
    let pair = KeyPair::from_pem(&key_pem).with_context(|| format!("'{key}' is not a private key this installer can read (unencrypted PKCS#8, RSA or EC)"))?;
    let leaf = pem::parse_many(&cert_pem)
        .ok()
        .and_then(|blocks| blocks.into_iter().find(|b| b.tag() == "CERTIFICATE"))
        .ok_or_else(|| floppies_format::error::Failure::new(floppies_format::error::ExitCode::Usage, format!("'{cert}' holds no readable PEM certificate")))?;
    let cert_key = subject_public_key(leaf.contents()).ok_or_else(|| {
        floppies_format::error::Failure::new(floppies_format::error::ExitCode::Usage, format!("'{cert}' holds a certificate this installer cannot read"))
    })?;
    if cert_key != pair.public_key_raw() {
        anyhow::bail!(floppies_format::error::Failure::new(
            floppies_format::error::ExitCode::Usage,
            format!("the key '{key}' does not belong to the certificate '{cert}' (the first certificate in the file, the server's)")
        )
        .help("pass the private key that was issued with this certificate; the server certificate must come first in --tls-cert"));
    }
    Ok((cert_pem, key_pem))
}

/// Checks the customer's certificate and key (readable, PEM, the key the
/// certificate's) before install changes anything.
pub fn check_customer(cert: &Utf8Path, key: &Utf8Path) -> Result<()> {
    read_customer(cert, key).map(drop)
}

/// One DER element: (tag, its content, what follows it).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize), &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subjectPublicKey bits of an X.509 certificate (DER): what
/// `KeyPair::public_key_raw` gives for the matching key.
fn subject_public_key(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(cert)? else { return None };
    let (SEQUENCE, mut tbs, _) = der(certificate)? else { return None };
    // [0] version (optional), serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo.
    if tbs.first() == Some(&0xa0) {
        tbs = der(tbs)?.2;
    }
    for _ in 0..5 {
        tbs = der(tbs)?.2;
    }
    let (SEQUENCE, spki, _) = der(tbs)? else { return None };
    let (SEQUENCE, _, bits) = der(spki)? else { return None };
    let (0x03, bits, _) = der(bits)? else { return None };
    // A BIT STRING starts with its count of unused bits: zero for a key.
    match bits.split_first()? {
        (0, key) => Some(key),
        _ => None,
    }
}

/// The host's name (first) plus localhost, and its addresses plus loopback.
fn host_names() -> (Vec<String>, Vec<std::net::IpAddr>) {
    let mut names = Vec::new();
    if let Ok(h) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim().to_string();
        if !h.is_empty() {
            names.push(h);
        }
    }
    names.push("localhost".to_string());
    let mut ips: Vec<std::net::IpAddr> = vec!["127.0.0.1".parse().expect("literal"), "::1".parse().expect("literal")];
    if let Ok(out) = crate::runner::capture("hostname", &["-I"]) {
        ips.extend(out.stdout.split_whitespace().filter_map(|w| w.parse::<std::net::IpAddr>().ok()));
    }
    ips.sort();
    ips.dedup();
    (names, ips)
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    fn scratch(name: &str) -> Utf8PathBuf {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("floppies-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn self_signed(key: &KeyPair) -> String {
        CertificateParams::new(vec!["example.test".to_string()]).unwrap().self_signed(key).unwrap().pem()
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = scratch("mismatch");
        let (a, b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        fs::write(dir.join("a.crt"), self_signed(&a)).unwrap();
        fs::write(dir.join("a.key"), a.serialize_pem()).unwrap();
        fs::write(dir.join("b.key"), b.serialize_pem()).unwrap();
        check_customer(&dir.join("a.crt"), &dir.join("a.key")).unwrap();
        let err = format!("{:#}", check_customer(&dir.join("a.crt"), &dir.join("b.key")).unwrap_err());
        assert!(err.contains("does not belong to the certificate"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    /// RSA keys and certificates as openssl makes them (a real tool, not our own encoder).
    #[test]
    fn openssl_rsa_pairs_are_matched_and_mismatched() {
        let dir = scratch("rsa");
        for name in ["a", "b"] {
            let out = std::process::Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=example.test", "-days", "2"])
                .args(["-keyout", dir.join(format!("{name}.key")).as_str(), "-out", dir.join(format!("{name}.crt")).as_str()])
                .output()
                .expect("openssl is needed by this test");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        check_customer(&dir.join("a.crt"), &dir.join("a.key")).unwrap();
        let err = format!("{:#}", check_customer(&dir.join("b.crt"), &dir.join("a.key")).unwrap_err());
        assert!(err.contains("does not belong"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
