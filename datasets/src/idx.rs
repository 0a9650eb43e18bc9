//! Reader of the IDX format used by MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! Every value in a header is checked against the actual byte length before anything is
//! allocated from it, so a lying header produces an error, never a giant allocation, and a
//! gzip stream that decompresses to more than [`MAX_DECOMPRESSED_BYTES`] is rejected.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// Magic number of an IDX file of unsigned-byte images (`0x00000803`).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (`0x00000801`).
pub const LABELS_MAGIC: u32 = 2049;
/// Largest accepted number of rows or columns of an image.
pub const MAX_SIDE: usize = 4096;
/// Largest accepted number of items in a file.
pub const MAX_COUNT: usize = 10_000_000;
/// Largest accepted size of a file on disk and of its decompressed content (1 GiB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The images of an IDX images file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `count * rows * cols` grey levels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

/// Reads an IDX images file (magic 2051), gzip-compressed or raw (detected by the gzip magic
/// bytes `1f 8b`).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_decoded(path)?;
    parse_images(&bytes, &path.display().to_string())
}

/// Reads an IDX labels file (magic 2049), gzip-compressed or raw.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_decoded(path)?;
    parse_labels(&bytes, &path.display().to_string())
}

/// Parses the decompressed bytes of an IDX images file; `name` names the file in errors.
pub fn parse_images(bytes: &[u8], name: &str) -> Result<IdxImages, DataError> {
    check_magic(bytes, IMAGES_MAGIC, "images", name)?;
    if bytes.len() < IMAGES_HEADER {
        return Err(truncated(name, IMAGES_HEADER as u64, bytes.len()));
    }
    let count = be_u32(bytes, 4) as usize;
    let rows = be_u32(bytes, 8) as usize;
    let cols = be_u32(bytes, 12) as usize;
    check_count(count, name)?;
    for (what, side) in [("rows", rows), ("cols", cols)] {
        if side == 0 || side > MAX_SIDE {
            return Err(DataError::BadHeader {
                name: name.to_string(),
                reason: format!("{what} is {side}, expected 1..={MAX_SIDE}"),
            });
        }
    }
    // All three are bounded above, so this cannot overflow a u64.
    let expected = IMAGES_HEADER as u64 + count as u64 * rows as u64 * cols as u64;
    check_length(bytes, expected, name)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes[IMAGES_HEADER..].to_vec(),
    })
}

/// Parses the decompressed bytes of an IDX labels file; `name` names the file in errors.
///
/// Labels are returned as stored; their range is checked against the number of classes when
/// an [`ImageSet`](crate::ImageSet) is built from them.
pub fn parse_labels(bytes: &[u8], name: &str) -> Result<Vec<u8>, DataError> {
    check_magic(bytes, LABELS_MAGIC, "labels", name)?;
    if bytes.len() < LABELS_HEADER {
        return Err(truncated(name, LABELS_HEADER as u64, bytes.len()));
    }
    let count = be_u32(bytes, 4) as usize;
    check_count(count, name)?;
    check_length(bytes, LABELS_HEADER as u64 + count as u64, name)?;
    Ok(bytes[LABELS_HEADER..].to_vec())
}

/// Reads a whole file (at most [`MAX_DECOMPRESSED_BYTES`]) and decompresses it if it is gzip.
pub(crate) fn read_decoded(path: &Path) -> Result<Vec<u8>, DataError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| DataError::io(path, "open", e))?;
    let mut raw = Vec::new();
    file.take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DataError::io(path, "read", e))?;
    if raw.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DataError::TooLarge {
            name,
            what: "file",
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    Ok(decode(&raw, &name)?.into_owned())
}

/// Returns `bytes` decompressed if they start with the gzip magic, else `bytes` unchanged.
pub(crate) fn decode<'a>(bytes: &'a [u8], name: &str) -> Result<Cow<'a, [u8]>, DataError> {
    decode_with_limit(bytes, name, MAX_DECOMPRESSED_BYTES)
}

fn decode_with_limit<'a>(
    bytes: &'a [u8],
    name: &str,
    limit: u64,
) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            name: name.to_string(),
            what: "decompressed data",
            limit,
        });
    }
    Ok(Cow::Owned(out))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_magic(
    bytes: &[u8],
    expected: u32,
    kind: &'static str,
    name: &str,
) -> Result<(), DataError> {
    if bytes.len() < 4 {
        return Err(truncated(name, 4, bytes.len()));
    }
    let found = be_u32(bytes, 0);
    if found != expected {
        return Err(DataError::BadMagic {
            name: name.to_string(),
            kind,
            expected,
            found,
        });
    }
    Ok(())
}

fn check_count(count: usize, name: &str) -> Result<(), DataError> {
    if count > MAX_COUNT {
        return Err(DataError::BadHeader {
            name: name.to_string(),
            reason: format!("item count {count} exceeds {MAX_COUNT}"),
        });
    }
    Ok(())
}

fn check_length(bytes: &[u8], expected: u64, name: &str) -> Result<(), DataError> {
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(truncated(name, expected, bytes.len()));
    }
    if actual > expected {
        return Err(DataError::Length {
            name: name.to_string(),
            problem: "trailing bytes after the data",
            expected,
            actual,
        });
    }
    Ok(())
}

fn truncated(name: &str, expected: u64, actual: usize) -> DataError {
    DataError::Length {
        name: name.to_string(),
        problem: "truncated",
        expected,
        actual: actual as u64,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    /// IDX images bytes: `count` images of `rows x cols`, pixel value = (index + position) % 256.
    pub(crate) fn images_bytes(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [IMAGES_MAGIC, count, rows, cols] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let size = (rows * cols) as usize;
        for i in 0..count as usize {
            out.extend((0..size).map(|p| ((i + p) % 256) as u8));
        }
        out
    }

    pub(crate) fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
        out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        out.extend_from_slice(labels);
        out
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).expect("write to Vec");
        encoder.finish().expect("finish gzip")
    }

    fn header(magic: u32, rest: &[u32]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for v in rest {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    #[test]
    fn parses_good_images_and_labels() {
        let images = parse_images(&images_bytes(3, 2, 4), "img").unwrap();
        assert_eq!((images.count, images.rows, images.cols), (3, 2, 4));
        assert_eq!(images.pixels.len(), 24);
        assert_eq!(&images.pixels[8..11], &[1, 2, 3]); // image 1 starts at value 1
        let labels = parse_labels(&labels_bytes(&[7, 0, 9]), "lab").unwrap();
        assert_eq!(labels, vec![7, 0, 9]);
        // Zero items is a valid (empty) file.
        assert_eq!(
            parse_images(&images_bytes(0, 28, 28), "e").unwrap().count,
            0
        );
    }

    #[test]
    fn reads_gzip_and_raw_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let raw = images_bytes(5, 3, 3);
        let gz_path = dir.path().join("a-images.gz");
        let raw_path = dir.path().join("a-images");
        std::fs::write(&gz_path, gzip(&raw)).unwrap();
        std::fs::write(&raw_path, &raw).unwrap();
        assert_eq!(
            read_images(&gz_path).unwrap(),
            read_images(&raw_path).unwrap()
        );
        let labels_path = dir.path().join("labels.gz");
        std::fs::write(&labels_path, gzip(&labels_bytes(&[1, 2, 3]))).unwrap();
        assert_eq!(read_labels(&labels_path).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_images(Path::new("/nonexistent/zoo/file.gz")).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert!(
            err.to_string().contains("/nonexistent/zoo/file.gz"),
            "{err}"
        );
    }

    #[test]
    fn truncated_files_are_rejected() {
        let bytes = images_bytes(4, 5, 5);
        for cut in [0, 3, 10, bytes.len() - 1] {
            let err = parse_images(&bytes[..cut], "cut.idx").unwrap_err();
            assert!(
                matches!(
                    err,
                    DataError::Length {
                        problem: "truncated",
                        ..
                    }
                ),
                "{cut}: {err}"
            );
            assert!(err.to_string().contains("cut.idx"));
        }
        let labels = labels_bytes(&[1, 2, 3]);
        let err = parse_labels(&labels[..labels.len() - 1], "l").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = images_bytes(2, 2, 2);
        bytes.push(0);
        let err = parse_images(&bytes, "long").unwrap_err();
        assert!(err.to_string().contains("trailing bytes"), "{err}");
        let mut labels = labels_bytes(&[1]);
        labels.push(1);
        assert!(parse_labels(&labels, "long").is_err());
    }

    #[test]
    fn wrong_magic_is_rejected() {
        // A labels file given as images and vice versa.
        let err = parse_images(&labels_bytes(&[1, 2]), "swapped").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    expected: 2051,
                    found: 2049,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("swapped"));
        let err = parse_labels(&images_bytes(1, 1, 1), "swapped").unwrap_err();
        assert!(matches!(
            err,
            DataError::BadMagic {
                expected: 2049,
                found: 2051,
                ..
            }
        ));
    }

    #[test]
    fn absurd_headers_error_without_allocating() {
        // count 2^31 with a 16-byte file: must be refused by the count check.
        let err = parse_images(&header(IMAGES_MAGIC, &[1 << 31, 28, 28]), "huge").unwrap_err();
        assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
        // rows 60000.
        let err = parse_images(&header(IMAGES_MAGIC, &[1, 60000, 28]), "rows").unwrap_err();
        assert!(err.to_string().contains("rows is 60000"), "{err}");
        let err = parse_images(&header(IMAGES_MAGIC, &[1, 28, 0]), "cols").unwrap_err();
        assert!(err.to_string().contains("cols is 0"), "{err}");
        // Largest accepted header values, but no data: a length error, no allocation.
        let err =
            parse_images(&header(IMAGES_MAGIC, &[10_000_000, 4096, 4096]), "big").unwrap_err();
        assert!(
            matches!(err, DataError::Length { expected, actual: 16, .. } if expected == 16 + 10_000_000 * 4096 * 4096),
            "{err}"
        );
        let err = parse_labels(&header(LABELS_MAGIC, &[u32::MAX]), "labels").unwrap_err();
        assert!(matches!(err, DataError::BadHeader { .. }), "{err}");
        let err = parse_labels(&header(LABELS_MAGIC, &[9_999_999]), "labels").unwrap_err();
        assert!(matches!(err, DataError::Length { .. }), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_rejected() {
        let mut gz = gzip(&images_bytes(10, 8, 8));
        let middle = gz.len() / 2;
        for b in &mut gz[middle..middle + 8] {
            *b ^= 0xff;
        }
        let err = decode(&gz, "bad.gz").unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        assert!(err.to_string().contains("bad.gz"));
        // Gzip magic followed by garbage.
        let err = decode(&[0x1f, 0x8b, 1, 2, 3], "junk.gz").unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        // Truncated gzip stream.
        let gz = gzip(&images_bytes(10, 8, 8));
        assert!(decode(&gz[..gz.len() / 2], "short.gz").is_err());
    }

    #[test]
    fn not_gzip_and_not_idx_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"hello, this is not an IDX file").unwrap();
        let err = read_images(&path).unwrap_err();
        assert!(matches!(err, DataError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"));
    }

    #[test]
    fn gzip_bomb_is_cut_at_the_limit() {
        let bomb = gzip(&vec![0u8; 100_000]);
        let err = decode_with_limit(&bomb, "bomb.gz", 10_000).unwrap_err();
        assert!(
            matches!(err, DataError::TooLarge { limit: 10_000, .. }),
            "{err}"
        );
        assert_eq!(
            decode_with_limit(&bomb, "ok.gz", 100_000).unwrap().len(),
            100_000
        );
    }

    /// Cases per property: 10,000 in `cargo test`; `PROPTEST_CASES=100000` for a longer run.
    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    }

    /// Bytes an IDX reader may meet: random, a valid header over random data (sizes that do
    /// not match), or gzip streams of either, whole or cut.
    fn idx_like() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let raw = proptest::collection::vec(any::<u8>(), 0..512);
        let headed = (
            prop_oneof![Just(2051u32), Just(2049u32), any::<u32>()],
            proptest::collection::vec(any::<u32>(), 0..4),
            proptest::collection::vec(any::<u8>(), 0..256),
        )
            .prop_map(|(magic, dims, body)| {
                let mut bytes = magic.to_be_bytes().to_vec();
                for d in dims {
                    bytes.extend((d % 4096).to_be_bytes());
                }
                bytes.extend(body);
                bytes
            });
        let plain = prop_oneof![raw, headed];
        (plain, any::<bool>(), any::<usize>()).prop_map(|(bytes, zip, cut)| {
            if !zip {
                return bytes;
            }
            let zipped = gzip(&bytes);
            let keep = cut % (zipped.len() + 1);
            zipped[..keep.max(2)].to_vec()
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(cases()))]

        /// Arbitrary bytes never panic the reader: they parse, or give an error naming the file.
        #[test]
        fn arbitrary_bytes_never_panic_the_idx_reader(bytes in idx_like()) {
            match decode(&bytes, "fuzz.gz") {
                Ok(raw) => {
                    if let Err(e) = parse_images(&raw, "fuzz.gz") {
                        proptest::prop_assert!(e.to_string().contains("fuzz.gz"));
                    }
                    let _ = parse_labels(&raw, "fuzz.gz");
                }
                Err(e) => proptest::prop_assert!(e.to_string().contains("fuzz.gz")),
            }
        }
    }
}
