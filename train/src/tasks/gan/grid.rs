//! Sample grids: generated images tiled into one PNG.

use anyhow::{bail, Context, Result};
use burn::prelude::*;
use image::{DynamicImage, GrayImage, RgbImage};
use zoo_gan::Generator;

use super::condition::Conditioning;

/// The folder of a GAN run's per-epoch sample grids.
pub const SAMPLES_DIR: &str = "samples";

/// `samples/epoch-NNN.png`, relative to the run folder: the grid drawn after `epoch`.
pub fn grid_name(epoch: usize) -> String {
    format!("{SAMPLES_DIR}/epoch-{epoch:03}.png")
}

/// Pixels of background between and around the tiles.
pub const GRID_PADDING: usize = 2;
/// Latents pushed through the generator at once.
const BATCH: usize = 256;

/// Columns and rows of the grid of `n` images: `ceil(sqrt(n))` columns.
pub fn grid_layout(n: usize) -> (usize, usize) {
    let columns = (n as f64).sqrt().ceil().max(1.0) as usize;
    (columns, n.div_ceil(columns))
}

/// The pixel size `(width, height)` of a grid of `n` images of `image_width x image_height`.
pub fn grid_size(n: usize, image_width: usize, image_height: usize) -> (usize, usize) {
    let (columns, rows) = grid_layout(n);
    (
        columns * (image_width + GRID_PADDING) + GRID_PADDING,
        rows * (image_height + GRID_PADDING) + GRID_PADDING,
    )
}

/// Tiles images `[n, channels, height, width]` with values in `[-1, 1]` into one picture,
/// row by row (grayscale for one channel, RGB for three), on a black background.
pub fn grid_image(images: Tensor<4>) -> Result<DynamicImage> {
    let [n, channels, height, width] = images.dims();
    if channels != 1 && channels != 3 {
        bail!("a sample grid needs 1 or 3 channels, got {channels}");
    }
    let values: Vec<f32> = images
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read the generated images: {e:?}"))?;
    let (columns, _) = grid_layout(n);
    let (grid_width, grid_height) = grid_size(n, width, height);
    let mut bytes = vec![0u8; grid_width * grid_height * channels];
    let image_len = channels * height * width;
    for (k, image) in values.chunks(image_len).enumerate() {
        let x0 = GRID_PADDING + (k % columns) * (width + GRID_PADDING);
        let y0 = GRID_PADDING + (k / columns) * (height + GRID_PADDING);
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let v = image[(c * height + y) * width + x];
                    let pixel = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                    bytes[((y0 + y) * grid_width + x0 + x) * channels + c] = pixel;
                }
            }
        }
    }
    let (w, h) = (grid_width as u32, grid_height as u32);
    Ok(if channels == 1 {
        DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, bytes).context("grid buffer size")?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, bytes).context("grid buffer size")?)
    })
}

/// Generates one image per latent vector (`latents` holds them row by row; a conditional
/// generator draws class `i % classes` for vector `i`) with `generator` in inference mode and
/// returns the grid as PNG bytes.
pub fn grid_png(
    generator: &Generator,
    latents: &[f32],
    conditioning: Conditioning,
) -> Result<Vec<u8>> {
    let device = match generator {
        Generator::Mlp(g) => g.output.weight.device(),
        Generator::Dcgan(g) => g.project.weight.device(),
    };
    let latent_size = conditioning.latent_size;
    let n = latents.len() / latent_size.max(1);
    let labels = conditioning.grid_labels(n);
    let mut images = Vec::new();
    for (chunk, labels) in latents
        .chunks(BATCH * latent_size)
        .zip(labels.chunks(BATCH))
    {
        let input = conditioning.generator_input(chunk, labels, &device);
        images.push(generator.forward(input)); // [batch, c, h, w]
    }
    if n == 0 {
        bail!("no latent vectors to draw");
    }
    let grid = grid_image(Tensor::cat(images, 0))?;
    let mut png = Vec::new();
    grid.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("cannot encode the sample grid")?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_as_square_as_possible() {
        assert_eq!(grid_layout(64), (8, 8));
        assert_eq!(grid_layout(10), (4, 3));
        assert_eq!(grid_layout(1), (1, 1));
        assert_eq!(grid_size(64, 28, 28), (8 * 30 + 2, 8 * 30 + 2));
    }

    #[test]
    fn grid_places_each_image_in_its_tile() {
        let device = Device::flex();
        // Image 0 all black (-1), image 1 all white (1), image 2 mid grey (0).
        let images = Tensor::<4>::cat(
            vec![
                Tensor::full([1, 1, 3, 2], -1.0, &device),
                Tensor::full([1, 1, 3, 2], 1.0, &device),
                Tensor::full([1, 1, 3, 2], 0.0, &device),
            ],
            0,
        );
        let grid = grid_image(images).unwrap().into_luma8();
        assert_eq!(grid.dimensions(), (2 * 4 + 2, 2 * 5 + 2)); // 2 columns, 2 rows
        assert_eq!(grid.get_pixel(2, 2)[0], 0);
        assert_eq!(grid.get_pixel(2 + 4, 2)[0], 255);
        assert_eq!(grid.get_pixel(2, 2 + 5)[0], 128);
        assert_eq!(grid.get_pixel(0, 0)[0], 0); // padding
    }
}
