//! Images read as sequences: the row-wise view of an image batch used by sequence models.

use burn::tensor::Tensor;

/// Reads each image row by row: `[batch, channels, rows, cols] -> [batch, rows, channels * cols]`.
///
/// For MNIST this is the classic "sequential MNIST" task: 28 time steps of 28 pixels. It is a
/// view of the batches the image loader already produces, not a second dataset.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use zoo_datasets::image_rows;
///
/// let images = Tensor::<4>::zeros([8, 1, 28, 28], &Device::flex());
/// assert_eq!(image_rows(images).dims(), [8, 28, 28]); // [batch, time, features]
/// ```
pub fn image_rows(images: Tensor<4>) -> Tensor<3> {
    let [batch, channels, rows, cols] = images.dims();
    images
        .swap_dims(1, 2) // [batch, rows, channels, cols]
        .reshape([batch, rows, channels * cols])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn each_step_is_one_row_of_every_channel() {
        let device = Device::flex();
        let values: Vec<f32> = (0..2 * 2 * 3).map(|v| v as f32).collect();
        let images = Tensor::<1>::from_floats(values.as_slice(), &device).reshape([1, 2, 2, 3]); // [1, c=2, rows=2, cols=3]
        let rows: Vec<f32> = image_rows(images).into_data().try_to_vec().unwrap();
        // Step 0: row 0 of channel 0, then row 0 of channel 1.
        assert_eq!(rows, vec![0., 1., 2., 6., 7., 8., 3., 4., 5., 9., 10., 11.]);
    }
}
