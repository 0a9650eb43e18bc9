//! The few protobuf messages of TensorBoard's event format that the zoo writes, as hand-written
//! [`prost::Message`] structs (no `protoc`, no build script).
//!
//! Field numbers follow TensorBoard's `tensorboard/compat/proto/event.proto` and
//! `summary.proto` (package `tensorboard`, identical to TensorFlow's `tensorflow.Event`):
//!
//! ```text
//! Event   { double wall_time = 1; int64 step = 2;
//!           oneof what { string file_version = 3; Summary summary = 5; ... } }
//! Summary { repeated Value value = 1; }
//! Value   { string tag = 1;
//!           oneof value { float simple_value = 2; Image image = 4; ... } }
//! Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//!           bytes encoded_image_string = 4; }
//! ```
//!
//! `what` and `value` are `oneof`s in the `.proto` files, and they are `oneof`s here too
//! ([`What`], [`ValueKind`]): a member of a `oneof` is written even when it holds the default
//! value, so a scalar of exactly `0.0` is stored (a plain proto3 `float` field would drop it and
//! TensorBoard would see a value with no data). Fields of other messages, and the other members
//! of the `oneof`s (graph definitions, histograms, tensors, ...), are skipped when decoding a file
//! that another program wrote.

/// One record of an event file: a timestamped, stepped piece of data.
///
/// ```
/// use zoo_tensorboard::{Event, Summary, Value, What};
///
/// let event = Event {
///     wall_time: 1.5,
///     step: 3,
///     what: Some(What::Summary(Summary { value: vec![Value::scalar("loss", 0.25)] })),
/// };
/// assert_eq!(event.summary().unwrap().value[0].simple_value(), Some(0.25));
/// assert_eq!(event.file_version(), None);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch when the event was written.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The training step (global step) the event belongs to.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds; `None` for a kind of event this crate does not model.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// The payload of an [`Event`] (the `what` oneof of `event.proto`, restricted to what the zoo
/// writes).
///
/// ```
/// use zoo_tensorboard::What;
///
/// let first = What::FileVersion("brain.Event:2".to_string());
/// assert!(matches!(first, What::FileVersion(ref v) if v.starts_with("brain.Event:")));
/// ```
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The version of the file format, in the first event of a file: `"brain.Event:2"`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Tagged values (scalars, images) at the event's step.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// A set of tagged values written at one step.
///
/// ```
/// use zoo_tensorboard::{Summary, Value};
///
/// let summary = Summary { value: vec![Value::scalar("loss/train", 0.5), Value::scalar("loss/valid", 0.7)] };
/// assert_eq!(summary.value.len(), 2);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values, each with its own tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// One tagged value of a [`Summary`].
///
/// ```
/// use zoo_tensorboard::{Value, ValueKind};
///
/// let value = Value::scalar("accuracy", 0.98);
/// assert_eq!(value.tag, "accuracy");
/// assert_eq!(value.kind, Some(ValueKind::SimpleValue(0.98)));
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    /// The name of the series the value belongs to, e.g. `loss/train`; slashes group series in
    /// TensorBoard's interface.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The value; `None` for a kind this crate does not model (histogram, tensor, audio, ...).
    #[prost(oneof = "ValueKind", tags = "2, 4")]
    pub kind: Option<ValueKind>,
}

/// The kinds of [`Value`] the zoo writes (the `value` oneof of `summary.proto`, restricted).
///
/// ```
/// use zoo_tensorboard::ValueKind;
///
/// let kind = ValueKind::SimpleValue(1.0);
/// assert!(matches!(kind, ValueKind::SimpleValue(v) if v == 1.0));
/// ```
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ValueKind {
    /// A scalar, shown in TensorBoard's Scalars tab.
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    /// An encoded image, shown in TensorBoard's Images tab.
    #[prost(message, tag = "4")]
    Image(Image),
}

/// An encoded image (PNG here) with its size.
///
/// ```
/// use zoo_tensorboard::Image;
///
/// let image = Image { height: 28, width: 28, colorspace: 1, encoded_image_string: vec![] };
/// assert_eq!((image.width, image.height), (28, 28));
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    /// Height in pixels.
    #[prost(int32, tag = "1")]
    pub height: i32,
    /// Width in pixels.
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// Channels: 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// The encoded image file (PNG bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

impl Event {
    /// The file format version if this is a file's first event.
    ///
    /// ```
    /// use zoo_tensorboard::{Event, What};
    ///
    /// let event = Event { wall_time: 0.0, step: 0, what: Some(What::FileVersion("brain.Event:2".into())) };
    /// assert_eq!(event.file_version(), Some("brain.Event:2"));
    /// ```
    pub fn file_version(&self) -> Option<&str> {
        match &self.what {
            Some(What::FileVersion(version)) => Some(version),
            _ => None,
        }
    }

    /// The summary if this event holds tagged values.
    ///
    /// ```
    /// use zoo_tensorboard::{Event, Summary, Value, What};
    ///
    /// let summary = Summary { value: vec![Value::scalar("loss", 1.0)] };
    /// let event = Event { wall_time: 0.0, step: 1, what: Some(What::Summary(summary.clone())) };
    /// assert_eq!(event.summary(), Some(&summary));
    /// ```
    pub fn summary(&self) -> Option<&Summary> {
        match &self.what {
            Some(What::Summary(summary)) => Some(summary),
            _ => None,
        }
    }
}

impl Value {
    /// A scalar value with `tag`.
    ///
    /// ```
    /// use zoo_tensorboard::Value;
    ///
    /// assert_eq!(Value::scalar("loss", 0.0).simple_value(), Some(0.0));
    /// ```
    pub fn scalar(tag: &str, value: f32) -> Self {
        Self {
            tag: tag.to_string(),
            kind: Some(ValueKind::SimpleValue(value)),
        }
    }

    /// The scalar if this value is one.
    ///
    /// ```
    /// use zoo_tensorboard::Value;
    ///
    /// assert_eq!(Value::scalar("loss", 2.5).simple_value(), Some(2.5));
    /// ```
    pub fn simple_value(&self) -> Option<f32> {
        match self.kind {
            Some(ValueKind::SimpleValue(value)) => Some(value),
            _ => None,
        }
    }

    /// The image if this value is one.
    ///
    /// ```
    /// use zoo_tensorboard::{Image, Value, ValueKind};
    ///
    /// let image = Image { height: 1, width: 2, colorspace: 3, encoded_image_string: vec![1, 2] };
    /// let value = Value { tag: "samples".into(), kind: Some(ValueKind::Image(image.clone())) };
    /// assert_eq!(value.image(), Some(&image));
    /// assert_eq!(value.simple_value(), None);
    /// ```
    pub fn image(&self) -> Option<&Image> {
        match &self.kind {
            Some(ValueKind::Image(image)) => Some(image),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn zero_scalar_is_encoded_because_it_is_a_oneof_member() {
        let bytes = Value::scalar("t", 0.0).encode_to_vec();
        // tag field (1, length-delimited) "t", then field 2 (fixed32) = 0.0: 0x15 00 00 00 00.
        assert_eq!(bytes, [0x0a, 0x01, b't', 0x15, 0, 0, 0, 0]);
        assert_eq!(Value::decode(&bytes[..]).unwrap().simple_value(), Some(0.0));
    }

    #[test]
    fn field_numbers_match_event_proto() {
        let event = Event {
            wall_time: 1.0,
            step: 7,
            what: Some(What::FileVersion("v".into())),
        };
        let bytes = event.encode_to_vec();
        // wall_time: field 1 fixed64 (0x09); step: field 2 varint (0x10); file_version: field 3
        // length-delimited (0x1a).
        let mut expected = vec![0x09];
        expected.extend_from_slice(&1.0f64.to_le_bytes());
        expected.extend_from_slice(&[0x10, 7, 0x1a, 1, b'v']);
        assert_eq!(bytes, expected);

        let image = Image {
            height: 2,
            width: 3,
            colorspace: 4,
            encoded_image_string: vec![9],
        };
        let value = Value {
            tag: "i".into(),
            kind: Some(ValueKind::Image(image)),
        };
        let summary = Event {
            wall_time: 0.0,
            step: 0,
            what: Some(What::Summary(Summary { value: vec![value] })),
        };
        // summary: field 5 (0x2a) > value: field 1 (0x0a) > tag (0x0a), image: field 4 (0x22) >
        // height 1 (0x08), width 2 (0x10), colorspace 3 (0x18), bytes 4 (0x22).
        let image_bytes = [0x08, 2, 0x10, 3, 0x18, 4, 0x22, 1, 9];
        let mut value_bytes = vec![0x0a, 1, b'i', 0x22, image_bytes.len() as u8];
        value_bytes.extend_from_slice(&image_bytes);
        let mut expected = vec![
            0x2a,
            value_bytes.len() as u8 + 2,
            0x0a,
            value_bytes.len() as u8,
        ];
        expected.extend_from_slice(&value_bytes);
        assert_eq!(summary.encode_to_vec(), expected);
    }

    #[test]
    fn unknown_fields_and_oneof_members_are_skipped() {
        // An event with graph_def (field 4, bytes) and source_metadata (field 10, message):
        // members this crate does not model.
        let bytes = [0x10, 5, 0x22, 2, 0xde, 0xad, 0x52, 0];
        let event = Event::decode(&bytes[..]).unwrap();
        assert_eq!(event.step, 5);
        assert_eq!(event.what, None);
    }
}
