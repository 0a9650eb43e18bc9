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
