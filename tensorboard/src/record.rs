//! TFRecord framing: the checksummed records an event file is made of.
//!
//! ```text
//! u64 little-endian  length of data
//! u32 little-endian  masked CRC-32C of those 8 length bytes
//! [u8; length]       data (here: a serialized Event protobuf)
//! u32 little-endian  masked CRC-32C of data
//! ```

use std::io::{self, Write};

/// Added to the rotated CRC by [`mask_crc`], as in TensorFlow's `crc32c::Mask`.
const MASK_DELTA: u32 = 0xa282_ead8;

/// Bytes before the data of a record: the length and its CRC.
pub(crate) const HEADER_LEN: usize = 12;
/// Bytes after the data of a record: its CRC.
pub(crate) const FOOTER_LEN: usize = 4;

/// CRC-32C (Castagnoli polynomial, as used by iSCSI and TFRecord) of `data`.
///
/// ```
/// assert_eq!(zoo_tensorboard::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// Masks a CRC the way TFRecord stores it: rotate right by 15 bits, then add `0xa282ead8`
/// (a CRC stored next to the data it covers would otherwise be easy to confuse with data).
///
/// ```
/// use zoo_tensorboard::mask_crc;
///
/// assert_eq!(mask_crc(0), 0xa282_ead8);
/// assert_eq!(mask_crc(1 << 15), 1 + 0xa282_ead8);
/// ```
pub fn mask_crc(crc: u32) -> u32 {
    // `(crc >> 15) | (crc << 17)` is a rotation.
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// [`mask_crc`] of [`crc32c()`] of `data`: the checksum a TFRecord stores.
///
/// ```
/// use zoo_tensorboard::{crc32c, mask_crc, masked_crc32c};
///
/// assert_eq!(masked_crc32c(b"abc"), mask_crc(crc32c(b"abc")));
/// ```
pub fn masked_crc32c(data: &[u8]) -> u32 {
    mask_crc(crc32c(data))
}

/// Writes `data` as one framed record: length, masked CRC of the length, data, masked CRC of
/// the data.
///
/// ```
/// let mut out = Vec::new();
/// zoo_tensorboard::write_record(&mut out, b"hello")?;
/// assert_eq!(out.len(), 8 + 4 + 5 + 4);
/// assert_eq!(&out[..8], &5u64.to_le_bytes());
/// assert_eq!(&out[12..17], b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_record<W: Write>(out: &mut W, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&len);
    header[8..].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.write_all(&header)?;
    out.write_all(data)?;
    out.write_all(&masked_crc32c(data).to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        // The check value of CRC-32C (RFC 3720, and the CRC catalogue's "check").
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        // RFC 3720 B.4: 32 bytes of 0xff.
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    }

    #[test]
    fn mask_is_rotate_then_add() {
        assert_eq!(mask_crc(0), 0xa282_ead8);
        // Bit 15 rotates to bit 0; bit 0 rotates to bit 17.
        assert_eq!(mask_crc(1 << 15), 0xa282_ead9);
        assert_eq!(mask_crc(1), (1u32 << 17).wrapping_add(0xa282_ead8));
        // Worked by hand: (c >> 15 | c << 17) = 0x2507_c60d, + 0xa282_ead8 = 0xc78a_b0e5.
        assert_eq!(mask_crc(0xE306_9283), 0xc78a_b0e5);
        // Wrapping addition, not a panic, on overflow.
        assert_eq!(mask_crc(u32::MAX), u32::MAX.wrapping_add(0xa282_ead8));
    }

    #[test]
    fn record_layout() {
        let mut out = Vec::new();
        write_record(&mut out, b"abc").unwrap();
        assert_eq!(out.len(), HEADER_LEN + 3 + FOOTER_LEN);
        assert_eq!(&out[..8], &3u64.to_le_bytes());
        assert_eq!(
            &out[8..12],
            &masked_crc32c(&3u64.to_le_bytes()).to_le_bytes()
        );
        assert_eq!(&out[12..15], b"abc");
        assert_eq!(&out[15..], &masked_crc32c(b"abc").to_le_bytes());
    }

    #[test]
    fn empty_record() {
        let mut out = Vec::new();
        write_record(&mut out, b"").unwrap();
        assert_eq!(out.len(), HEADER_LEN + FOOTER_LEN);
        assert_eq!(&out[12..], &mask_crc(0).to_le_bytes());
    }
}
