//! A character corpus for language models: vocabulary, contiguous splits, fixed-length windows.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{DataError, IdxFile};

/// The tiny-shakespeare corpus (Karpathy's char-rnn), as found in `<data_dir>/tinyshakespeare/`.
pub const TINY_SHAKESPEARE: IdxFile = IdxFile {
    name: "input.txt",
    sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
};

/// Where tiny-shakespeare can be downloaded from.
pub const TINY_SHAKESPEARE_MIRRORS: &[&str] =
    &["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare"];

/// The characters a model knows, each with an id (sorted by code point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    chars: Vec<char>,
}

impl Vocabulary {
    /// The distinct characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self { chars }
    }

    /// A vocabulary from its characters in id order (as saved with a model).
    pub fn from_chars(chars: Vec<char>) -> Self {
        Self { chars }
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The id of `c`, if known.
    pub fn id(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The ids of `text`, or the first character the vocabulary does not know.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, char> {
        text.chars().map(|c| self.id(c).ok_or(c)).collect()
    }

    /// The text of `ids` (ids outside the vocabulary are skipped).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter().filter_map(|&i| self.chars.get(i)).collect()
    }
}

/// A text cut into contiguous train / validation / test parts (90 / 5 / 5 by default), encoded
/// with the vocabulary of the training part.
#[derive(Clone, Debug)]
pub struct CharCorpus {
    /// The training part's characters.
    pub vocabulary: Vocabulary,
    /// Token ids of the training part.
    pub train: Arc<Vec<u16>>,
    /// Token ids of the validation part.
    pub valid: Arc<Vec<u16>>,
    /// Token ids of the test part.
    pub test: Arc<Vec<u16>>,
    /// Characters of the validation and test parts missing from the vocabulary (dropped).
    pub dropped: usize,
}

impl CharCorpus {
    /// Splits `text` at `train_fraction` and `train_fraction + valid_fraction` of its
    /// characters; the rest is the test part.
    ///
    /// ```
    /// use zoo_datasets::CharCorpus;
    ///
    /// let corpus = CharCorpus::from_text(&"to be or not to be ".repeat(20), 0.9, 0.05)?;
    /// assert_eq!(corpus.train.len() + corpus.valid.len() + corpus.test.len(), 380);
    /// assert_eq!(corpus.vocabulary.len(), 7); // ' ', 'b', 'e', 'n', 'o', 'r', 't'
    /// # Ok::<(), zoo_datasets::DataError>(())
    /// ```
    pub fn from_text(
        text: &str,
        train_fraction: f64,
        valid_fraction: f64,
    ) -> Result<Self, DataError> {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let train_end = (n as f64 * train_fraction) as usize;
        let valid_end = ((n as f64 * (train_fraction + valid_fraction)) as usize).min(n);
        if train_end < 2 || valid_end <= train_end || valid_end >= n {
            return Err(DataError::InvalidSet(format!(
                "a text of {n} characters cannot be split {train_fraction}/{valid_fraction}/rest into three non-empty parts"
            )));
        }
        let train_text: String = chars[..train_end].iter().collect();
        let vocabulary = Vocabulary::from_text(&train_text);
        if vocabulary.len() > u16::MAX as usize {
            return Err(DataError::InvalidSet(format!(
                "the training text has {} distinct characters; at most {} are supported",
                vocabulary.len(),
                u16::MAX
            )));
        }
        let mut dropped = 0;
        let mut encode = |part: &[char]| -> Vec<u16> {
            part.iter()
                .filter_map(|&c| {
                    let id = vocabulary.id(c);
                    dropped += usize::from(id.is_none());
                    id.map(|i| i as u16)
                })
                .collect()
        };
        let train = encode(&chars[..train_end]);
        let valid = encode(&chars[train_end..valid_end]);
        let test = encode(&chars[valid_end..]);
        Ok(Self {
            vocabulary,
            train: Arc::new(train),
            valid: Arc::new(valid),
            test: Arc::new(test),
            dropped,
        })
    }
}

/// A run of tokens and the run shifted by one: what a language model reads and must predict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextWindow {
    /// `length + 1` consecutive token ids.
    pub tokens: Vec<u16>,
}

/// Non-overlapping windows of `length + 1` tokens over a token sequence (consecutive windows
/// share one token, so every token is predicted once).
#[derive(Clone, Debug)]
pub struct TextWindows {
    tokens: Arc<Vec<u16>>,
    length: usize,
}

impl TextWindows {
    /// Windows of `length` inputs (`length + 1` tokens) over `tokens`.
    ///
    /// # Panics
    ///
    /// If `length` is 0.
    pub fn new(tokens: Arc<Vec<u16>>, length: usize) -> Self {
        assert!(length > 0, "window length must be positive");
        Self { tokens, length }
    }

    /// Number of predicted tokens over all windows.
    pub fn predicted_tokens(&self) -> usize {
        self.len() * self.length
    }
}

impl Dataset<TextWindow> for TextWindows {
    fn get(&self, index: usize) -> Result<TextWindow, DatasetError> {
        if index >= self.len() {
            return Err(crate::series::out_of_range(index, self.len()));
        }
        let start = index * self.length;
        Ok(TextWindow {
            tokens: self.tokens[start..start + self.length + 1].to_vec(),
        })
    }

    fn len(&self) -> usize {
        self.tokens.len().saturating_sub(1) / self.length
    }
}

/// A batch of windows: inputs and next-token targets.
#[derive(Clone, Debug)]
pub struct TokenBatch {
    /// `[batch, length]` token ids.
    pub inputs: Tensor<2, Int>,
    /// `[batch, length]`: each input shifted by one.
    pub targets: Tensor<2, Int>,
}

/// Batches [`TextWindow`]s of equal length into a [`TokenBatch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenBatcher;

impl Batcher<TextWindow, TokenBatch> for TokenBatcher {
    fn batch(&self, items: Vec<TextWindow>, device: &Device) -> TokenBatch {
        let batch = items.len();
        let length = items.first().map_or(0, |w| w.tokens.len() - 1);
        let mut inputs = Vec::with_capacity(batch * length);
        let mut targets = Vec::with_capacity(batch * length);
        for window in &items {
            inputs.extend(window.tokens[..length].iter().map(|&t| t as i64));
            targets.extend(window.tokens[1..].iter().map(|&t| t as i64));
        }
        let tensor = |values: Vec<i64>| {
            Tensor::<2, Int>::from_data(TensorData::new(values, [batch, length]), device)
        };
        TokenBatch {
            inputs: tensor(inputs),
            targets: tensor(targets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_round_trips_and_names_unknown_characters() {
        let vocab = Vocabulary::from_text("hello world");
        assert_eq!(vocab.len(), 8);
        let ids = vocab.encode("low").unwrap();
        assert_eq!(vocab.decode(&ids), "low");
        assert_eq!(vocab.encode("lox"), Err('x'));
    }

    #[test]
    fn splits_are_contiguous_and_use_the_training_vocabulary() {
        let text = format!("{}{}", "ab".repeat(45), "abcabcabc_z");
        let corpus = CharCorpus::from_text(&text, 0.9, 0.05).unwrap();
        assert_eq!(corpus.vocabulary.chars(), &['a', 'b']);
        assert_eq!(corpus.train.len(), 90);
        // The last 11 characters hold 'c', '_' and 'z', unknown to the training part.
        assert_eq!(corpus.dropped, 5);
        assert_eq!(corpus.valid.len() + corpus.test.len() + corpus.dropped, 11);
    }

    #[test]
    fn too_short_a_text_is_an_error() {
        let err = CharCorpus::from_text("abc", 0.9, 0.05).unwrap_err();
        assert!(err.to_string().contains("cannot be split"), "{err}");
    }

    #[test]
    fn windows_shift_targets_by_one_and_cover_every_token() {
        let tokens: Arc<Vec<u16>> = Arc::new((0..11).collect());
        let windows = TextWindows::new(tokens, 4);
        assert_eq!(windows.len(), 2);
        assert_eq!(windows.get(1).unwrap().tokens, vec![4, 5, 6, 7, 8]);
        assert!(windows.get(2).is_err());
        let batch = TokenBatcher.batch(
            vec![windows.get(0).unwrap(), windows.get(1).unwrap()],
            &Device::flex(),
        );
        assert_eq!(batch.inputs.dims(), [2, 4]);
        let targets: Vec<i64> = batch.targets.into_data().iter::<i64>().collect();
        assert_eq!(targets, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
