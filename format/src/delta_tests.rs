use super::*;
use proptest::prelude::*;
use std::io::Cursor;

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image as the build writes it: a config, layers, and its manifest blob.
struct Img {
    name: String,
    blobs: Vec<Vec<u8>>,
}

fn img(name: &str, layers: &[&[u8]]) -> Img {
    let layers: Vec<Vec<u8>> = layers.iter().map(|l| l.to_vec()).collect();
    let config = format!("{{\"config-of\":\"{name}\",\"layers\":{}}}", layers.len()).into_bytes();
    let ids: Vec<String> = layers.iter().map(|l| digest_of(l)).collect();
    let manifest = format!("{{\"config\":\"{}\",\"layers\":{ids:?}}}", digest_of(&config)).into_bytes();
    let mut blobs = layers;
    blobs.push(config);
    blobs.push(manifest);
    Img { name: name.to_string(), blobs }
}

/// An OCI archive as oci.rs writes one: oci-layout, index.json, each blob once, sorted.
fn archive(images: &[&Img], gnu: bool) -> Vec<u8> {
    let index: Vec<String> = images.iter().map(|i| format!("{}={}", i.name, digest_of(i.blobs.last().unwrap()))).collect();
    let mut blobs: Vec<(String, &[u8])> = images.iter().flat_map(|i| i.blobs.iter().map(|b| (digest_of(b), b.as_slice()))).collect();
    blobs.sort();
    blobs.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut out);
        let mut put = |path: &str, data: &[u8]| {
            let mut h = if gnu { tar::Header::new_gnu() } else { tar::Header::new_ustar() };
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(0);
            tar.append_data(&mut h, path, data).unwrap();
        };
        put("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        put("index.json", index.join("\n").as_bytes());
        for (d, data) in &blobs {
            put(&format!("blobs/sha256/{}", d.trim_start_matches("sha256:")), data);
        }
        tar.finish().unwrap();
    }
    out
}

/// diff NEW against BASE, then reassemble; returns the recipe, the carried bytes and the result.
fn round_trip(new: &[u8], base: &[u8]) -> (Recipe, Vec<u8>, Vec<u8>) {
    let indexed = index(base).unwrap();
    assert_eq!(indexed.size, base.len() as u64);
    let mut carried = Vec::new();
    let recipe = diff(new, &indexed.blobs, &indexed.sha256, &mut carried).unwrap();
    assert_eq!(recipe.carried_size, carried.len() as u64);
    let mut out = Vec::new();
    reassemble(&recipe, &carried[..], &mut Cursor::new(base), &indexed.blobs, &mut out).unwrap();
    (recipe, carried, out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn layer(tag: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| tag.wrapping_add((i % 251) as u8)).collect()
}

#[test]
fn a_changed_layer_is_carried_and_the_shared_ones_come_from_the_base() {
    let (shared, old, new) = (layer(1, 40_000), layer(2, 30_000), layer(3, 20_000));
    let base = archive(&[&img("app:1", &[&shared, &old])], false);
    let next = archive(&[&img("app:2", &[&shared, &new])], false);
    let (recipe, carried, out) = round_trip(&next, &base);
    assert_eq!(out, next, "reassembled byte for byte");
    assert_eq!(recipe.sha256, hex::encode(Sha256::digest(&next)));
    assert!(contains(&carried, &new), "the new layer is carried");
    assert!(!contains(&carried, &shared[..4096]), "the shared layer is not");
    assert_eq!(recipe.from_base_size(), shared.len() as u64);
    assert!(carried.len() < new.len() + 8 * 1024, "carried {} for a {}-byte layer", carried.len(), new.len());
}

#[test]
fn an_image_whose_layers_are_all_in_the_base_carries_only_headers_config_manifest_and_index() {
    let (a, b) = (layer(4, 50_000), layer(5, 60_000));
    let base = archive(&[&img("app:1", &[&a, &b])], true);
    let next = archive(&[&img("app:1", &[&a, &b]), &img("other:1", &[&b, &a])], true);
    let (recipe, carried, out) = round_trip(&next, &base);
    assert_eq!(out, next);
    // Eight entries: a header block and at most a block of padding each, and the end blocks.
    assert!(carried.len() < 8 * 1024 + 1024 + 1024, "carried {}", carried.len());
    let from_base: Vec<&str> = recipe.segments.iter().filter_map(|s| if let Segment::Base { digest, .. } = s { Some(digest.as_str()) } else { None }).collect();
    for l in [&a, &b] {
        assert!(from_base.contains(&digest_of(l).as_str()), "layer from base");
    }
    assert_eq!(from_base.len(), 4, "both layers, app:1's config and manifest; other:1's own config and manifest are carried");
}

#[test]
fn an_index_shared_by_two_images_is_stored_and_taken_once() {
    // Two names, one multi-arch index blob (the same manifest digest), as a
    // pinned repo@digest under two tags gives.
    let l = layer(6, 10_000);
    let one = img("app:1", &[&l]);
    let two = Img { name: "app:latest".into(), blobs: one.blobs.clone() };
    let base = archive(&[&one], false);
    let next = archive(&[&one, &two], false);
    let (recipe, _, out) = round_trip(&next, &base);
    assert_eq!(out, next);
    let index_digest = digest_of(one.blobs.last().unwrap());
    let uses = recipe.segments.iter().filter(|s| matches!(s, Segment::Base { digest, .. } if *digest == index_digest)).count();
    assert_eq!(uses, 1);
}

#[test]
fn a_blob_the_base_lacks_is_named_before_anything_is_copied() {
    let (a, b) = (layer(7, 5000), layer(8, 5000));
    let base = archive(&[&img("app:1", &[&a, &b])], false);
    let next = archive(&[&img("app:2", &[&a, &b])], false);
    let indexed = index(&base[..]).unwrap();
    let mut carried = Vec::new();
    let recipe = diff(&next[..], &indexed.blobs, &indexed.sha256, &mut carried).unwrap();
    // Another base: it has a but not b.
    let other = archive(&[&img("app:0", &[&a])], false);
    let other_index = index(&other[..]).unwrap();
    let mut out = Vec::new();
    let err = reassemble(&recipe, &carried[..], &mut Cursor::new(&other), &other_index.blobs, &mut out).unwrap_err().to_string();
    assert!(err.contains("lacks") && err.contains(&digest_of(&b)), "{err}");
    assert!(out.is_empty(), "nothing written");
}

#[test]
fn a_damaged_base_blob_is_refused_by_its_digest() {
    let a = layer(9, 5000);
    let base = archive(&[&img("app:1", &[&a])], false);
    let at = base.windows(64).position(|w| w == &a[..64]).unwrap();
    let mut bad = base.clone();
    bad[at + 100] ^= 1;
    let err = index(&bad[..]).unwrap_err().to_string();
    assert!(err.contains("damaged") && err.contains(&digest_of(&a)), "{err}");
    // Changed after it was indexed: reassembly hashes each blob again.
    let indexed = index(&base[..]).unwrap();
    let next = archive(&[&img("app:2", &[&a])], false);
    let mut carried = Vec::new();
    let recipe = diff(&next[..], &indexed.blobs, &indexed.sha256, &mut carried).unwrap();
    let err = reassemble(&recipe, &carried[..], &mut Cursor::new(&bad), &indexed.blobs, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("changed while it was read") && err.contains(&digest_of(&a)), "{err}");
}

#[test]
fn damaged_carried_bytes_or_recipe_are_refused() {
    let (a, b) = (layer(10, 3000), layer(11, 3000));
    let base = archive(&[&img("app:1", &[&a])], false);
    let next = archive(&[&img("app:2", &[&a, &b])], false);
    let indexed = index(&base[..]).unwrap();
    let mut carried = Vec::new();
    let recipe = diff(&next[..], &indexed.blobs, &indexed.sha256, &mut carried).unwrap();
    let run = |r: &Recipe, c: &[u8]| reassemble(r, c, &mut Cursor::new(&base), &indexed.blobs, &mut Vec::new()).unwrap_err().to_string();
    let mut flipped = carried.clone();
    flipped[700] ^= 1;
    assert!(run(&recipe, &flipped).contains("not the"), "a flipped byte fails the sha256");
    assert!(run(&recipe, &carried[..carried.len() - 1]).contains("ends 1 bytes early"));
    let mut longer = carried.clone();
    longer.push(0);
    assert!(run(&recipe, &longer).contains("longer than the recipe says"));
    let mut r = recipe.clone();
    r.size += 1;
    assert!(run(&r, &carried).contains("add up to"));
    let mut r = recipe.clone();
    r.segments.push(Segment::Carried { size: u64::MAX });
    assert!(run(&r, &carried).contains("overflow"));
}

#[test]
fn a_new_blob_that_does_not_match_its_name_fails_the_build() {
    let a = layer(12, 2000);
    let mut next = archive(&[&img("app:1", &[&a])], false);
    let at = next.windows(64).position(|w| w == &a[..64]).unwrap();
    next[at + 10] ^= 1;
    let err = diff(&next[..], &BlobIndex::default(), "00", Vec::new()).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn recipes_read_back_as_written() {
    let r = Recipe {
        size: 3,
        sha256: "ab".into(),
        base_sha256: "cd".into(),
        carried_size: 1,
        segments: vec![Segment::Carried { size: 1 }, Segment::Base { digest: "sha256:00".into(), size: 2 }],
    };
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(r#"{"kind":"base","digest":"sha256:00","size":2}"#), "{json}");
    assert_eq!(serde_json::from_str::<Recipe>(&json).unwrap(), r);
    assert!(serde_json::from_str::<Recipe>(&json.replace("\"kind\":\"base\"", "\"kind\":\"elsewhere\"")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any images over a pool of layers, any base: the rebuilt archive is the
    /// new one, and the update carries no blob the base already has.
    #[test]
    fn reassembly_rebuilds_any_archive_from_any_base(
        sizes in proptest::collection::vec(0usize..3000, 1..8),
        base_sets in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..4), 0..3),
        new_sets in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..4), 1..4),
        gnu in any::<bool>(),
    ) {
        let pool: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| layer(i as u8 * 37 + 1, *n + 1)).collect();
        let make = |sets: &[Vec<usize>], prefix: &str| -> Vec<Img> {
            sets.iter().enumerate().map(|(i, s)| {
                let layers: Vec<&[u8]> = s.iter().map(|k| pool[k % pool.len()].as_slice()).collect();
                img(&format!("{prefix}{i}:1"), &layers)
            }).collect()
        };
        let base_imgs = make(&base_sets, "img");
        let new_imgs = make(&new_sets, "img");
        let base = archive(&base_imgs.iter().collect::<Vec<_>>(), gnu);
        let next = archive(&new_imgs.iter().collect::<Vec<_>>(), gnu);
        let (recipe, carried, out) = round_trip(&next, &base);
        prop_assert_eq!(&out, &next);
        let base_blobs: std::collections::BTreeSet<String> = base_imgs.iter().flat_map(|i| i.blobs.iter().map(|b| digest_of(b))).collect();
        let mut new_blobs: Vec<&Vec<u8>> = new_imgs.iter().flat_map(|i| i.blobs.iter()).collect();
        new_blobs.sort();
        new_blobs.dedup();
        let own: u64 = new_blobs.iter().filter(|b| !base_blobs.contains(&digest_of(b))).map(|b| b.len() as u64).sum();
        let shared: u64 = new_blobs.iter().filter(|b| base_blobs.contains(&digest_of(b))).map(|b| b.len() as u64).sum();
        prop_assert_eq!(recipe.from_base_size(), shared);
        // Headers, padding, oci-layout, index.json and the end blocks are all the overhead.
        let entries = new_blobs.len() as u64 + 2;
        prop_assert!(recipe.carried_size <= own + entries * 1024 + 2048 + 20 * 1024, "carried {} own {}", recipe.carried_size, own);
        prop_assert_eq!(carried.len() as u64, recipe.carried_size);
    }
}
