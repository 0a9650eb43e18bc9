//! [`EventWriter`]: one event file in a run's `tb/` folder.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::proto::{Event, Image, Summary, Value, ValueKind, What};
use crate::record::write_record;

/// The `file_version` of the first event of every file, as TensorFlow and PyTorch write it.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The first bytes of every PNG file.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Numbers the files this process creates, so two writers created in the same second get two
/// names.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes one TensorBoard event file: scalars and PNG images, each at a step.
///
/// Records go through a buffer; [`flush`](Self::flush) writes them to disk and syncs the file.
/// Dropping the writer writes the buffer out (ignoring errors) but does not sync: call `flush`
/// at each point a crash must not lose (the end of an epoch, say).
///
/// ```
/// use zoo_tensorboard::{read_events, EventWriter};
///
/// let run = tempfile::tempdir()?;
/// let mut tb = EventWriter::create(&run.path().join("tb"))?;
/// for epoch in 1..=3 {
///     tb.add_scalar("loss/train", epoch, 1.0 / epoch as f32)?;
///     tb.add_scalar("accuracy/valid", epoch, 0.9)?;
///     tb.flush()?;
/// }
/// // `tensorboard --logdir RUN_PARENT` now shows both series.
/// assert_eq!(read_events(tb.path())?.len(), 1 + 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new file `events.out.tfevents.<unix secs>.<hostname>.<pid>.<n>`
    /// in it, starting with the file_version event. A resumed run creates a second file in the
    /// same folder; TensorBoard merges the files of one folder.
    ///
    /// An existing file is never overwritten: `<n>` counts up until the name is free.
    ///
    /// ```
    /// use zoo_tensorboard::EventWriter;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let first = EventWriter::create(dir.path())?;
    /// let resumed = EventWriter::create(dir.path())?;
    /// assert_ne!(first.path(), resumed.path());
    /// let name = first.path().file_name().unwrap().to_str().unwrap();
    /// assert!(name.starts_with("events.out.tfevents."));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let wall_time = now();
        let secs = wall_time as u64;
        let host = hostname();
        let pid = std::process::id();
        let mut attempts = 0;
        let (path, file) = loop {
            let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("events.out.tfevents.{secs}.{host}.{pid}.{n}"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempts < 1000 => attempts += 1,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot create event file {}: {e}", path.display()),
                    ))
                }
            }
        };
        let mut writer = Self {
            path,
            out: BufWriter::new(file),
        };
        writer.write_event(&Event {
            wall_time,
            step: 0,
            what: Some(What::FileVersion(FILE_VERSION.to_string())),
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file this writer appends to.
    ///
    /// ```
    /// use zoo_tensorboard::EventWriter;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let writer = EventWriter::create(dir.path())?;
    /// assert_eq!(writer.path().parent(), Some(dir.path()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the scalar `value` of series `tag` at `step`.
    ///
    /// ```
    /// use zoo_tensorboard::{read_events, EventWriter};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut writer = EventWriter::create(dir.path())?;
    /// writer.add_scalar("loss/train", 7, 0.125)?;
    /// writer.flush()?;
    /// let events = read_events(writer.path())?;
    /// assert_eq!(events[1].step, 7);
    /// assert_eq!(events[1].summary().unwrap().value[0].simple_value(), Some(0.125));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        self.write_summary(step, Value::scalar(tag, value))
    }

    /// PNG bytes of an image (width, height, channels as stored in the PNG).
    ///
    /// Appends the image to series `tag` at `step`. `channels` is 1 (gray), 2 (gray + alpha),
    /// 3 (RGB) or 4 (RGBA). Fails with [`ErrorKind::InvalidInput`] when `png` is not a PNG file,
    /// when its header gives another size than `width` x `height`, or when `channels` is out of
    /// range; nothing is written then.
    ///
    /// ```
    /// use std::io::Cursor;
    /// use zoo_tensorboard::{read_events, EventWriter};
    ///
    /// // A 3 x 2 gray image, encoded with the `image` crate.
    /// let gray = image::GrayImage::from_raw(3, 2, vec![0, 50, 100, 150, 200, 250]).unwrap();
    /// let mut png = Vec::new();
    /// gray.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut writer = EventWriter::create(dir.path())?;
    /// writer.add_image("samples", 1, &png, 3, 2, 1)?;
    /// writer.flush()?;
    /// let events = read_events(writer.path())?;
    /// let image = events[1].summary().unwrap().value[0].image().unwrap().clone();
    /// assert_eq!((image.width, image.height, image.colorspace), (3, 2, 1));
    /// assert_eq!(image.encoded_image_string, png);
    ///
    /// // Raw pixels instead of a PNG file are refused.
    /// assert!(writer.add_image("samples", 2, &[0u8; 6], 3, 2, 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_image(
        &mut self,
        tag: &str,
        step: i64,
        png: &[u8],
        width: u32,
        height: u32,
        channels: u32,
    ) -> io::Result<()> {
        let value = image_value(tag, png, width, height, channels)?;
        self.write_summary(step, value)
    }

    /// Writes buffered records to disk (flush + fsync), so a crash loses nothing written before.
    ///
    /// ```
    /// use zoo_tensorboard::{read_events, EventWriter};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut writer = EventWriter::create(dir.path())?;
    /// writer.add_scalar("loss", 1, 2.0)?;
    /// writer.flush()?;
    /// // Another reader sees the record while the writer is still open.
    /// assert_eq!(read_events(writer.path())?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    fn write_summary(&mut self, step: i64, value: Value) -> io::Result<()> {
        self.write_event(&summary_event(step, value, now()))
    }

    fn write_event(&mut self, event: &Event) -> io::Result<()> {
        write_record(&mut self.out, &event.encode_to_vec())
    }
}

/// A whole event file built in memory, for a writer that rewrites its file atomically each
/// time (a run's history, rewritten after every epoch like its `metrics.csv`). The wall times
/// are given, so the same history always gives the same bytes, and a file rewritten with one
/// more epoch starts with the bytes of the file before it: TensorBoard, reading on from where it
/// stopped, sees only the new records.
///
/// ```
/// use zoo_tensorboard::{decode_events, EventLog};
///
/// let mut log = EventLog::new(1_700_000_000.0);
/// log.add_scalar("loss/train", 1, 0.5, 1_700_000_010.0);
/// let bytes = log.into_bytes();
/// let events = decode_events(&bytes)?;
/// assert_eq!(events[0].file_version(), Some("brain.Event:2"));
/// assert_eq!((events[1].step, events[1].wall_time), (1, 1_700_000_010.0));
/// assert!(EventLog::file_name(1_700_000_000.0).starts_with("events.out.tfevents.1700000000."));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct EventLog {
    bytes: Vec<u8>,
}

impl EventLog {
    /// A log whose first event (the file version) is dated `wall_time` (seconds since the Unix
    /// epoch).
    pub fn new(wall_time: f64) -> Self {
        let mut log = Self { bytes: Vec::new() };
        log.push(&Event {
            wall_time,
            step: 0,
            what: Some(What::FileVersion(FILE_VERSION.to_string())),
        });
        log
    }

    /// The file name TensorBoard expects for a log started at `wall_time`:
    /// `events.out.tfevents.<unix secs>.<hostname>`.
    pub fn file_name(wall_time: f64) -> String {
        format!("events.out.tfevents.{}.{}", wall_time as u64, hostname())
    }

    /// Adds the scalar `value` of series `tag` at `step`, dated `wall_time`.
    pub fn add_scalar(&mut self, tag: &str, step: i64, value: f32, wall_time: f64) {
        self.push(&summary_event(step, Value::scalar(tag, value), wall_time));
    }

    /// Adds a PNG image (its size and colour type read from its header) to series `tag` at
    /// `step`, dated `wall_time`; bytes that are not a PNG file are refused.
    pub fn add_png(&mut self, tag: &str, step: i64, png: &[u8], wall_time: f64) -> io::Result<()> {
        let (width, height, channels) = png_info(png)?;
        let value = image_value(tag, png, width, height, channels)?;
        self.push(&summary_event(step, value, wall_time));
        Ok(())
    }

    /// The bytes of the event file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn push(&mut self, event: &Event) {
        write_record(&mut self.bytes, &event.encode_to_vec())
            .expect("writing to a Vec cannot fail");
    }
}

fn summary_event(step: i64, value: Value, wall_time: f64) -> Event {
    Event {
        wall_time,
        step,
        what: Some(What::Summary(Summary { value: vec![value] })),
    }
}

fn image_value(tag: &str, png: &[u8], width: u32, height: u32, channels: u32) -> io::Result<Value> {
    check_png(png, width, height, channels)?;
    Ok(Value {
        tag: tag.to_string(),
        kind: Some(ValueKind::Image(Image {
            height: height as i32,
            width: width as i32,
            colorspace: channels as i32,
            encoded_image_string: png.to_vec(),
        })),
    })
}

/// Width, height and channels of a PNG file, from its header (colour types 0 gray, 2 RGB,
/// 4 gray + alpha, 6 RGBA; a palette image counts as RGB).
fn png_info(png: &[u8]) -> io::Result<(u32, u32, u32)> {
    if png.len() < 26 || png[..8] != PNG_SIGNATURE || &png[12..16] != b"IHDR" {
        return Err(invalid(
            "image bytes are not a PNG file (expected an encoded PNG, not raw pixels)".into(),
        ));
    }
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    let channels = match png[25] {
        0 => 1,
        4 => 2,
        2 | 3 => 3,
        6 => 4,
        other => return Err(invalid(format!("unknown PNG colour type {other}"))),
    };
    Ok((width, height, channels))
}

/// Seconds since the Unix epoch (0 for a clock set before 1970).
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The host name for the file name, from the standard places (no extra dependency); it only
/// keeps the names of files from several machines apart, so a fallback is fine. Characters other
/// than ASCII letters, digits, `-`, `_` and `.` become `_`.
fn hostname() -> String {
    let from_file = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        });
    let raw = from_file
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, msg)
}

/// Checks that `png` is a PNG file of `width` x `height` and `channels` is a colorspace
/// TensorBoard knows.
fn check_png(png: &[u8], width: u32, height: u32, channels: u32) -> io::Result<()> {
    if !(1..=4).contains(&channels) {
        return Err(invalid(format!(
            "image channels must be 1 to 4, got {channels}"
        )));
    }
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(invalid(format!(
            "image size {width}x{height} does not fit TensorBoard's int32"
        )));
    }
    // Signature (8), IHDR chunk length (4) and type (4), then width and height (4 + 4, big-endian).
    if png.len() < 24 || png[..8] != PNG_SIGNATURE || &png[12..16] != b"IHDR" {
        return Err(invalid(
            "image bytes are not a PNG file (expected an encoded PNG, not raw pixels)".into(),
        ));
    }
    let png_width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let png_height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    if (png_width, png_height) != (width, height) {
        return Err(invalid(format!(
            "image declared {width}x{height} but the PNG header says {png_width}x{png_height}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::read_events;
    use std::io::Cursor;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn file_starts_with_the_file_version_event() {
        let dir = tempfile::tempdir().unwrap();
        let before = now();
        let writer = EventWriter::create(dir.path()).unwrap();
        let events = read_events(writer.path()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].file_version(), Some("brain.Event:2"));
        assert_eq!(events[0].step, 0);
        assert!(events[0].wall_time >= before.floor() && events[0].wall_time <= now() + 1.0);
    }

    #[test]
    fn file_name_follows_tensorflow() {
        let dir = tempfile::tempdir().unwrap();
        let writer = EventWriter::create(&dir.path().join("run/tb")).unwrap();
        assert!(dir.path().join("run/tb").is_dir());
        let name = writer
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(&parts[..3], ["events", "out", "tfevents"]);
        let secs: u64 = parts[3].parse().unwrap();
        assert!(secs.abs_diff(now() as u64) < 60);
        // The host name may hold dots: pid and counter are the last two parts.
        let n = parts.len();
        assert_eq!(parts[n - 2].parse::<u32>().unwrap(), std::process::id());
        parts[n - 1].parse::<u64>().unwrap();
        assert!(n >= 7, "{name}");
    }

    #[test]
    fn hostname_is_file_name_safe() {
        let host = hostname();
        assert!(!host.is_empty());
        assert!(host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    }

    #[test]
    fn scalars_and_images_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        let image = png(5, 3);
        writer.add_scalar("loss", 1, 0.75).unwrap();
        writer.add_image("img", 1, &image, 5, 3, 3).unwrap();
        writer.add_scalar("loss", 2, 0.0).unwrap();
        writer.flush().unwrap();
        let events = read_events(writer.path()).unwrap();
        assert_eq!(events.len(), 4);
        let values: Vec<&Value> = events[1..]
            .iter()
            .map(|e| &e.summary().unwrap().value[0])
            .collect();
        assert_eq!(
            (
                events[1].step,
                values[0].tag.as_str(),
                values[0].simple_value()
            ),
            (1, "loss", Some(0.75))
        );
        let img = values[1].image().unwrap();
        assert_eq!(
            (events[2].step, img.width, img.height, img.colorspace),
            (1, 5, 3, 3)
        );
        assert_eq!(img.encoded_image_string, image);
        assert_eq!((events[3].step, values[2].simple_value()), (2, Some(0.0)));
        assert!(events.windows(2).all(|w| w[0].wall_time <= w[1].wall_time));
    }

    #[test]
    fn dropping_the_writer_writes_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        writer.add_scalar("loss", 1, 1.0).unwrap();
        let path = writer.path().to_path_buf();
        drop(writer);
        assert_eq!(read_events(&path).unwrap().len(), 2);
    }

    #[test]
    fn resumed_writer_gets_a_new_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = EventWriter::create(dir.path()).unwrap();
        first.add_scalar("loss", 1, 1.0).unwrap();
        first.flush().unwrap();
        let first_path = first.path().to_path_buf();
        drop(first);
        let mut second = EventWriter::create(dir.path()).unwrap();
        second.add_scalar("loss", 2, 0.5).unwrap();
        second.flush().unwrap();
        assert_ne!(second.path(), first_path);
        assert_eq!(read_events(&first_path).unwrap().len(), 2);
        assert_eq!(read_events(second.path()).unwrap().len(), 2);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn bad_images_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = EventWriter::create(dir.path()).unwrap();
        let image = png(4, 2);
        for (bytes, w, h, c, needle) in [
            (&image[..], 4, 2, 0, "channels"),
            (&image[..], 4, 2, 5, "channels"),
            (&image[..], 2, 4, 3, "PNG header says 4x2"),
            (&[0u8; 24][..], 4, 2, 3, "not a PNG"),
            (&image[..10], 4, 2, 3, "not a PNG"),
            (&image[..], u32::MAX, 2, 3, "int32"),
        ] {
            let err = writer.add_image("img", 1, bytes, w, h, c).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(needle), "{err}");
        }
        writer.flush().unwrap();
        assert_eq!(read_events(writer.path()).unwrap().len(), 1);
    }

    #[test]
    fn create_in_a_folder_that_cannot_exist_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, b"x").unwrap();
        assert!(EventWriter::create(&file.join("tb")).is_err());
    }

    #[test]
    fn an_event_log_grows_by_appending_and_reads_its_pngs_size() {
        let build = |epochs: i64| {
            let mut log = EventLog::new(100.0);
            for e in 1..=epochs {
                log.add_scalar("loss/train", e, 1.0 / e as f32, 100.0 + e as f64);
            }
            log
        };
        let (two, three) = (build(2).into_bytes(), build(3).into_bytes());
        assert!(
            three.starts_with(&two),
            "a longer history appends to a shorter one"
        );
        let mut log = build(1);
        log.add_png("samples", 1, &png(5, 3), 101.0).unwrap();
        assert!(log.add_png("samples", 2, b"not a png", 102.0).is_err());
        let events = crate::reader::decode_events(&log.into_bytes()).unwrap();
        let image = events[2].summary().unwrap().value[0]
            .image()
            .unwrap()
            .clone();
        assert_eq!((image.width, image.height, image.colorspace), (5, 3, 3));
    }
}
