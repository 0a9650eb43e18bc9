//! Reads the files this crate writes with TensorBoard's own Python reader.
//!
//! The interpreter is `$ZOO_PYTHON`, else `python3`. When it cannot import `tensorboard` the
//! test prints `SKIPPED: <reason>` to stderr and returns; with `ZOO_REQUIRE_TENSORBOARD=1` it
//! fails instead (for CI, where a skip would hide a broken setup).
//!
//! Setup: `python3 -m venv ~/.cache/zoo-py && ~/.cache/zoo-py/bin/pip install tensorboard`,
//! then `ZOO_PYTHON=~/.cache/zoo-py/bin/python cargo test --release -p zoo-tensorboard`.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use zoo_tensorboard::{read_events, EventWriter, ReadError};

/// Loads `argv[1]` (a folder) with `EventAccumulator`, and reads every file in it strictly with
/// the record reader TensorBoard uses without TensorFlow (it raises `DataLossError` on a bad CRC,
/// which `EventAccumulator` would swallow); checks that the corrupt file `argv[2]` is refused.
/// Prints one JSON object.
const SCRIPT: &str = r#"
import json, os, struct, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

folder, corrupt = sys.argv[1], sys.argv[2]

def strict_read(path):
    reader = PyRecordReader_New(path)
    events = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return events
        events.append(event_pb2.Event.FromString(reader.record()))

files = {}
for name in sorted(os.listdir(folder)):
    events = strict_read(os.path.join(folder, name))
    files[name] = {"records": len(events), "file_version": events[0].file_version}

try:
    strict_read(corrupt)
    corrupt_error = None
except errors.DataLossError as e:
    corrupt_error = str(e)

acc = EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
f32_bits = lambda v: struct.unpack("<I", struct.pack("<f", v))[0]
print(json.dumps({
    "files": files,
    "corrupt_error": corrupt_error,
    "file_version": acc.file_version,
    "scalar_tags": sorted(tags["scalars"]),
    "image_tags": sorted(tags["images"]),
    "scalars": {t: [[e.step, f32_bits(e.value)] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height, e.encoded_image_string.hex()] for e in acc.Images(t)]
               for t in tags["images"]},
}))
"#;

/// Reports a skip where it is seen (`cargo test` captures `println!` of passing tests, not a
/// direct write to stderr), or fails when `ZOO_REQUIRE_TENSORBOARD` asks for the real check.
fn skip(reason: &str) {
    let required =
        std::env::var("ZOO_REQUIRE_TENSORBOARD").is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(!required, "ZOO_REQUIRE_TENSORBOARD is set but {reason}");
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

fn png(image: image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The scalar series: tag -> f32 values at steps 1..=5.
fn series() -> Vec<(&'static str, [f32; 5])> {
    vec![
        ("loss/train", [2.297_61, 0.1, 0.012_345_678, 1e-7, 0.0]),
        (
            "loss/valid",
            [-0.0, -2.5, 123_456.79, f32::MAX, f32::MIN_POSITIVE],
        ),
        // Subnormal, infinities and NaN survive too.
        (
            "accuracy/special",
            [1e-40, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1.0 / 3.0],
        ),
    ]
}

#[test]
fn tensorboard_reads_scalars_and_images() {
    let python = std::env::var("ZOO_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python)
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output();
    match probe {
        Err(e) => return skip(&format!("cannot run Python interpreter {python:?}: {e}")),
        Ok(out) if !out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("").trim().to_string();
            return skip(&format!(
                "{python} cannot import tensorboard ({last}); pip install tensorboard"
            ));
        }
        Ok(_) => {}
    }

    let run = tempfile::tempdir().unwrap();
    let tb = run.path().join("tb");
    let rgb = png(image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(
        7,
        5,
        |x, y| image::Rgb([(x * 36) as u8, (y * 60) as u8, 200]),
    )));
    let gray = png(image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(
        4,
        9,
        |x, y| image::Luma([(x * 60 + y * 3) as u8]),
    )));
    let rgba = png(image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(
        3,
        2,
        |x, y| image::Rgba([x as u8 * 80, y as u8 * 120, 9, 128]),
    )));

    // A run interrupted after step 3 and resumed: two files in one folder, which TensorBoard
    // merges.
    let mut first = EventWriter::create(&tb).unwrap();
    for step in 1..=3i64 {
        for (tag, values) in series() {
            first
                .add_scalar(tag, step, values[step as usize - 1])
                .unwrap();
        }
    }
    first.add_image("samples/rgb", 1, &rgb, 7, 5, 3).unwrap();
    first.add_image("samples/gray", 2, &gray, 4, 9, 1).unwrap();
    first.flush().unwrap();
    let first_path = first.path().to_path_buf();
    drop(first);
    let mut resumed = EventWriter::create(&tb).unwrap();
    for step in 4..=5i64 {
        for (tag, values) in series() {
            resumed
                .add_scalar(tag, step, values[step as usize - 1])
                .unwrap();
        }
    }
    resumed.add_image("samples/rgb", 5, &rgba, 3, 2, 4).unwrap();
    resumed.flush().unwrap();
    let resumed_path = resumed.path().to_path_buf();
    drop(resumed);

    // A corrupt copy (one bit of the last record's data flipped), outside the log folder.
    let corrupt = run.path().join("corrupt.tfevents");
    let mut bytes = std::fs::read(&resumed_path).unwrap();
    let i = bytes.len() - 10;
    bytes[i] ^= 0x10;
    std::fs::write(&corrupt, &bytes).unwrap();
    assert!(matches!(
        read_events(&corrupt),
        Err(ReadError::DataCrc { .. })
    ));

    let out = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(&tb)
        .arg(&corrupt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python reader failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON from Python ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    // Both files, every record, both CRCs checked by TensorBoard's reader.
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let files = report["files"].as_object().unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[&name(&first_path)]["records"], 1 + 3 * 3 + 2);
    assert_eq!(files[&name(&resumed_path)]["records"], 1 + 2 * 3 + 1);
    for file in files.values() {
        assert_eq!(file["file_version"], "brain.Event:2");
    }
    let corrupt_error = report["corrupt_error"]
        .as_str()
        .expect("the corrupt file was accepted");
    assert!(corrupt_error.contains("crc32"), "{corrupt_error}");
    assert_eq!(report["file_version"], 2.0);

    // Scalars: every tag, steps 1..=5 in order, the exact f32 bits.
    let expected_tags: Vec<&str> = {
        let mut t: Vec<&str> = series().iter().map(|(tag, _)| *tag).collect();
        t.sort();
        t
    };
    assert_eq!(report["scalar_tags"], serde_json::json!(expected_tags));
    for (tag, values) in series() {
        let got: Vec<(i64, u32)> = report["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalars for {tag}"))
            .iter()
            .map(|e| (e[0].as_i64().unwrap(), e[1].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5],
            "{tag}"
        );
        for ((step, bits), want) in got.iter().zip(values) {
            let seen = f32::from_bits(*bits);
            if want.is_nan() {
                assert!(seen.is_nan(), "{tag} step {step}: {seen}");
            } else {
                assert_eq!(*bits, want.to_bits(), "{tag} step {step}: {seen} != {want}");
            }
        }
    }

    // Images: size and the PNG bytes, byte for byte.
    assert_eq!(
        report["image_tags"],
        serde_json::json!(["samples/gray", "samples/rgb"])
    );
    let images: BTreeMap<String, Vec<(i64, i64, i64, String)>> = report["images"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(tag, list)| {
            let list = list
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let n = |k: usize| e[k].as_i64().unwrap();
                    (n(0), n(1), n(2), e[3].as_str().unwrap().to_string())
                })
                .collect();
            (tag.clone(), list)
        })
        .collect();
    assert_eq!(
        images["samples/rgb"],
        vec![(1, 7, 5, hex(&rgb)), (5, 3, 2, hex(&rgba))]
    );
    assert_eq!(images["samples/gray"], vec![(2, 4, 9, hex(&gray))]);
}
