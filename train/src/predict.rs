//! Reading a user's image file into the model's input format.

use std::path::Path;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use image::imageops::FilterType;
use zoo_datasets::{ImageBatcher, ImageDatasetKind, ImageItem};

use crate::model::ImageShape;

/// Loads a PNG/JPEG (any size, any colour type) as a normalized `[1, 1, height, width]` batch:
/// converted to grayscale and resized to the model's input size.
pub fn load_image(
    path: &Path,
    shape: ImageShape,
    kind: ImageDatasetKind,
    device: &Device,
) -> Result<Tensor<4>> {
    let image = image::open(path)
        .with_context(|| format!("'{}' is not a readable PNG or JPEG image", path.display()))?
        .into_luma8();
    let image = if image.dimensions() == (shape.width as u32, shape.height as u32) {
        image
    } else {
        image::imageops::resize(
            &image,
            shape.width as u32,
            shape.height as u32,
            FilterType::Triangle,
        )
    };
    let item = ImageItem {
        pixels: image.into_raw(),
        label: 0,
    };
    Ok(ImageBatcher::new(kind).batch(vec![item], device).images)
}

/// Reads the numbers of a CSV or plain text file (separated by commas, spaces or new lines;
/// a non-numeric first line is taken for a header) and returns the last `window` of them.
pub fn load_series_csv(path: &Path, window: usize) -> Result<Vec<f32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the series file '{}'", path.display()))?;
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for field in line.split(|c: char| c == ',' || c.is_whitespace()) {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            match field.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ if i == 0 && values.is_empty() => break, // a header line
                _ => anyhow::bail!(
                    "'{}' line {}: '{field}' is not a number",
                    path.display(),
                    i + 1
                ),
            }
        }
    }
    if values.len() < window {
        anyhow::bail!(
            "'{}' holds {} values; the model reads the last {window}",
            path.display(),
            values.len()
        );
    }
    Ok(values.split_off(values.len() - window))
}
