//! Reading an event file back: record framing, both CRCs, protobuf decoding.

use std::path::{Path, PathBuf};

use prost::Message;

use crate::proto::Event;
use crate::record::{masked_crc32c, FOOTER_LEN, HEADER_LEN};

/// Why an event file could not be read. Every malformed input gives one of these (never a
/// panic); byte offsets count from the start of the file.
///
/// ```
/// use zoo_tensorboard::{decode_events, ReadError};
///
/// let err = decode_events(&[1, 2, 3]).unwrap_err();
/// assert!(matches!(err, ReadError::Truncated { offset: 0, .. }));
/// assert!(err.to_string().contains("truncated"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read event file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file ends inside a record (a writer that stopped mid-record, or a cut copy).
    #[error(
        "event file truncated in the record at byte {offset}: its {part} needs {needed} bytes, \
         only {available} are left"
    )]
    Truncated {
        /// Where the record starts.
        offset: u64,
        /// The part of the record that is cut: `"header"` or `"data"` (data and its CRC).
        part: &'static str,
        /// Bytes that part needs.
        needed: u64,
        /// Bytes left in the file for it.
        available: u64,
    },
    /// The CRC of a record's length field does not match (a corrupt file, or not an event file).
    #[error(
        "bad length CRC in the record at byte {offset}: stored {stored:#010x}, computed \
         {computed:#010x} (corrupt file, or not a TensorBoard event file)"
    )]
    LengthCrc {
        /// Where the record starts.
        offset: u64,
        /// The masked CRC stored in the file.
        stored: u32,
        /// The masked CRC of the length bytes as read.
        computed: u32,
    },
    /// The CRC of a record's data does not match.
    #[error(
        "bad data CRC in the record at byte {offset}: stored {stored:#010x}, computed \
         {computed:#010x} (corrupt file)"
    )]
    DataCrc {
        /// Where the record starts.
        offset: u64,
        /// The masked CRC stored in the file.
        stored: u32,
        /// The masked CRC of the data as read.
        computed: u32,
    },
    /// A record's data is not a valid `Event` protobuf.
    #[error("the record at byte {offset} is not an Event protobuf: {source}")]
    Decode {
        /// Where the record starts.
        offset: u64,
        /// The protobuf error.
        source: prost::DecodeError,
    },
}

/// Reads every event of the event file at `path`, checking both CRCs of every record.
///
/// Fails on a truncated file, a bad CRC or a record that is not an `Event`. A file cut exactly
/// between two records cannot be told from a shorter file and reads as the events before the
/// cut.
///
/// ```
/// use zoo_tensorboard::{read_events, EventWriter};
///
/// let dir = tempfile::tempdir()?;
/// let mut writer = EventWriter::create(dir.path())?;
/// writer.add_scalar("loss", 1, 0.5)?;
/// writer.flush()?;
///
/// let events = read_events(writer.path())?;
/// assert_eq!(events[0].file_version(), Some("brain.Event:2"));
/// assert_eq!(events[1].step, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_events(path: impl AsRef<Path>) -> Result<Vec<Event>, ReadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_events(&bytes)
}

/// Decodes the events of an event file held in memory; see [`read_events`].
///
/// ```
/// use zoo_tensorboard::{decode_events, write_record, Event, ReadError};
/// use prost::Message;
///
/// let event = Event { wall_time: 1.0, step: 2, what: None };
/// let mut file = Vec::new();
/// write_record(&mut file, &event.encode_to_vec())?;
/// assert_eq!(decode_events(&file)?, vec![event]);
///
/// // One flipped bit in the data is caught by the data CRC.
/// file[13] ^= 1;
/// assert!(matches!(decode_events(&file), Err(ReadError::DataCrc { offset: 0, .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_events(bytes: &[u8]) -> Result<Vec<Event>, ReadError> {
    let mut events = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let (data, next) = split_record(bytes, pos)?;
        let event = Event::decode(data).map_err(|source| ReadError::Decode {
            offset: pos as u64,
            source,
        })?;
        events.push(event);
        pos = next;
    }
    Ok(events)
}

/// Checks the record starting at `pos` and returns its data and where the next record starts.
fn split_record(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), ReadError> {
    let offset = pos as u64;
    let rest = &bytes[pos..];
    if rest.len() < HEADER_LEN {
        return Err(ReadError::Truncated {
            offset,
            part: "header",
            needed: HEADER_LEN as u64,
            available: rest.len() as u64,
        });
    }
    let (len_bytes, rest) = rest.split_at(8);
    let (crc_bytes, rest) = rest.split_at(4);
    let stored = u32::from_le_bytes(crc_bytes.try_into().expect("4 bytes"));
    let computed = masked_crc32c(len_bytes);
    if stored != computed {
        return Err(ReadError::LengthCrc {
            offset,
            stored,
            computed,
        });
    }
    let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    let available = rest.len() as u64;
    let needed = len.saturating_add(FOOTER_LEN as u64);
    if needed > available {
        return Err(ReadError::Truncated {
            offset,
            part: "data",
            needed,
            available,
        });
    }
    // `len < available <= usize::MAX`, so the cast is lossless.
    let (data, rest) = rest.split_at(len as usize);
    let stored = u32::from_le_bytes(rest[..FOOTER_LEN].try_into().expect("4 bytes"));
    let computed = masked_crc32c(data);
    if stored != computed {
        return Err(ReadError::DataCrc {
            offset,
            stored,
            computed,
        });
    }
    Ok((data, pos + HEADER_LEN + data.len() + FOOTER_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Summary, Value, What};
    use crate::record::write_record;
    use proptest::prelude::*;

    fn scalar_event(step: i64, tag: &str, value: f32) -> Event {
        Event {
            wall_time: 1_700_000_000.25 + step as f64,
            step,
            what: Some(What::Summary(Summary {
                value: vec![Value::scalar(tag, value)],
            })),
        }
    }

    fn file_of(events: &[Event]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut boundaries = vec![0];
        for event in events {
            write_record(&mut out, &event.encode_to_vec()).unwrap();
            boundaries.push(out.len());
        }
        (out, boundaries)
    }

    #[test]
    fn round_trip_through_framing() {
        let events = vec![
            Event {
                wall_time: 1.0,
                step: 0,
                what: Some(What::FileVersion("brain.Event:2".into())),
            },
            scalar_event(1, "loss", 0.5),
            scalar_event(2, "loss", 0.0),
            scalar_event(-3, "weird/negative step", f32::MIN_POSITIVE),
        ];
        let (file, _) = file_of(&events);
        assert_eq!(decode_events(&file).unwrap(), events);
    }

    #[test]
    fn empty_input_has_no_events() {
        assert_eq!(decode_events(&[]).unwrap(), vec![]);
    }

    #[test]
    fn truncation_inside_header_and_data() {
        let (file, _) = file_of(&[scalar_event(1, "loss", 0.5)]);
        match decode_events(&file[..5]) {
            Err(ReadError::Truncated {
                offset: 0,
                part: "header",
                needed: 12,
                available: 5,
            }) => {}
            other => panic!("expected a truncated header, got {other:?}"),
        }
        let cut = file.len() - 1;
        match decode_events(&file[..cut]) {
            Err(ReadError::Truncated {
                offset: 0,
                part: "data",
                needed,
                available,
            }) => {
                assert_eq!(needed, (file.len() - 12) as u64);
                assert_eq!(available, (cut - 12) as u64);
            }
            other => panic!("expected a truncated data part, got {other:?}"),
        }
    }

    #[test]
    fn huge_length_with_valid_crc_is_truncation_not_allocation() {
        let len = u64::MAX.to_le_bytes();
        let mut file = len.to_vec();
        file.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
        file.extend_from_slice(b"tiny");
        let err = decode_events(&file).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::Truncated {
                    part: "data",
                    needed: u64::MAX,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_crcs_are_reported_with_the_record_offset() {
        let (mut file, boundaries) =
            file_of(&[scalar_event(1, "a", 1.0), scalar_event(2, "b", 2.0)]);
        let second = boundaries[1];
        file[second + 9] ^= 0x40; // the length CRC of the second record
        match decode_events(&file) {
            Err(ReadError::LengthCrc { offset, .. }) => assert_eq!(offset, second as u64),
            other => panic!("expected a length CRC error, got {other:?}"),
        }
        file[second + 9] ^= 0x40;
        let last = file.len() - 1;
        file[last] ^= 0x01; // the data CRC of the second record
        match decode_events(&file) {
            Err(ReadError::DataCrc { offset, .. }) => assert_eq!(offset, second as u64),
            other => panic!("expected a data CRC error, got {other:?}"),
        }
    }

    #[test]
    fn data_that_is_not_an_event_is_a_decode_error() {
        let mut file = Vec::new();
        // Field 1 declared as wire type 1 (fixed64) but cut short: invalid protobuf.
        write_record(&mut file, &[0x09, 1, 2]).unwrap();
        assert!(matches!(
            decode_events(&file),
            Err(ReadError::Decode { offset: 0, .. })
        ));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = read_events("/nonexistent/zoo-tb/events.out.tfevents.0").unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }));
        assert!(
            err.to_string()
                .contains("/nonexistent/zoo-tb/events.out.tfevents.0"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_events(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_header_never_panic(
            len in any::<u64>(),
            tail in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            // Gets past the length CRC, so the data path is exercised too.
            let len = len % 300;
            let mut file = len.to_le_bytes().to_vec();
            file.extend_from_slice(&masked_crc32c(&len.to_le_bytes()).to_le_bytes());
            file.extend_from_slice(&tail);
            let _ = decode_events(&file);
        }

        #[test]
        fn scalars_round_trip(values in proptest::collection::vec(
            ("[a-z/_]{1,12}", any::<i64>(), any::<u32>()), 0..20)
        ) {
            // Any f32 bit pattern (NaNs included) survives: compare bits.
            let events: Vec<Event> = values
                .iter()
                .map(|(tag, step, bits)| scalar_event(*step, tag, f32::from_bits(*bits)))
                .collect();
            let (file, _) = file_of(&events);
            let decoded = decode_events(&file).unwrap();
            prop_assert_eq!(decoded.len(), events.len());
            for (d, (tag, step, bits)) in decoded.iter().zip(&values) {
                prop_assert_eq!(d.step, *step);
                let value = &d.summary().unwrap().value[0];
                prop_assert_eq!(&value.tag, tag);
                prop_assert_eq!(value.simple_value().unwrap().to_bits(), *bits);
            }
        }

        #[test]
        fn any_single_bit_flip_is_detected(
            n in 1usize..4,
            byte in any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let events: Vec<Event> = (0..n as i64).map(|s| scalar_event(s, "loss", s as f32)).collect();
            let (mut file, _) = file_of(&events);
            let i = byte.index(file.len());
            file[i] ^= 1 << bit;
            prop_assert!(decode_events(&file).is_err(), "flip of bit {} of byte {} went unnoticed", bit, i);
        }

        #[test]
        fn truncation_is_an_error_unless_at_a_record_boundary(
            n in 1usize..4,
            cut in any::<proptest::sample::Index>(),
        ) {
            let events: Vec<Event> = (0..n as i64).map(|s| scalar_event(s, "loss", 0.5)).collect();
            let (file, boundaries) = file_of(&events);
            let cut = cut.index(file.len());
            match boundaries.iter().position(|&b| b == cut) {
                Some(k) => prop_assert_eq!(decode_events(&file[..cut]).unwrap(), events[..k].to_vec()),
                None => {
                    let truncated = matches!(
                        decode_events(&file[..cut]),
                        Err(ReadError::Truncated { .. })
                    );
                    prop_assert!(truncated);
                }
            }
        }
    }
}
