//! Profile pictures: only an image that decodes whole as PNG, JPEG or WebP is kept, and it is
//! kept as idlog encoded it again, so nothing but its pixels survives (no EXIF, no location,
//! nothing appended after the image data).

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The largest picture accepted, in pixels: a small file may claim a huge image.
pub const MAX_PICTURE_PIXELS: u64 = 40_000_000;

/// The sizes a picture is also stored at, in pixels on its longer side (avatars in lists,
/// headers): never larger than the picture itself.
pub const RENDITION_SIZES: [u32; 2] = [256, 64];

/// A picture as stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// The re-encoded image.
    pub bytes: Vec<u8>,
    /// The renditions, by size (see [`RENDITION_SIZES`]), in the picture's format.
    pub renditions: Vec<(u32, Vec<u8>)>,
    /// Its content type, fixed by its format.
    pub content_type: &'static str,
    /// Its file name extension.
    pub extension: &'static str,
}

/// Why a picture was refused.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// Not an image of an accepted format.
    #[error("not a PNG, JPEG or WebP image")]
    Unsupported,
    /// Claims more pixels than accepted.
    #[error("the image is {width}×{height} pixels; at most {MAX_PICTURE_PIXELS} are accepted")]
    TooLarge {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Its data does not decode.
    #[error("the image does not decode: {0}")]
    Broken(String),
}

fn broken(error: image::ImageError) -> PictureError {
    PictureError::Broken(error.to_string())
}

/// Decodes `bytes` whole under limits and encodes the image again in its own format.
/// CPU-bound: call it on a blocking thread.
pub fn reencode(bytes: &[u8]) -> Result<Picture, PictureError> {
    let format = image::guess_format(bytes).map_err(|_| PictureError::Unsupported)?;
    let (content_type, extension) = match format {
        ImageFormat::Png => ("image/png", "png"),
        ImageFormat::Jpeg => ("image/jpeg", "jpg"),
        ImageFormat::WebP => ("image/webp", "webp"),
        _ => return Err(PictureError::Unsupported),
    };
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = Limits::default();
        // Strict limits the decoders check before allocating; the pixel count is checked below.
        limits.max_image_width = Some(40_000);
        limits.max_image_height = Some(40_000);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        reader
    };
    let (width, height) = reader().into_dimensions().map_err(broken)?;
    if u64::from(width) * u64::from(height) > MAX_PICTURE_PIXELS {
        return Err(PictureError::TooLarge { width, height });
    }
    let image = reader().decode().map_err(broken)?;
    let renditions = RENDITION_SIZES
        .iter()
        .map(|size| {
            // `resize` keeps the aspect ratio within size×size; Lanczos keeps faces sharp.
            let smaller = if image.width().max(image.height()) > *size {
                image.resize(*size, *size, image::imageops::FilterType::Lanczos3)
            } else {
                image.clone()
            };
            encode(&smaller, format).map(|bytes| (*size, bytes))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Picture {
        bytes: encode(&image, format)?,
        renditions,
        content_type,
        extension,
    })
}

/// `image` in `format`: JPEG has no alpha; WebP is written lossless from 8-bit channels.
fn encode(image: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, PictureError> {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8()).write_to(&mut out, format),
        ImageFormat::WebP => DynamicImage::ImageRgba8(image.to_rgba8()).write_to(&mut out, format),
        _ => image.write_to(&mut out, format),
    }
    .map_err(broken)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            width,
            height,
            image::Rgb([200, 30, 30]),
        ));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    #[test]
    fn each_accepted_format_is_decoded_and_encoded_again() {
        for (format, content_type) in [
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Jpeg, "image/jpeg"),
            (ImageFormat::WebP, "image/webp"),
        ] {
            let picture = reencode(&encoded(format, 3, 2)).expect("accepted");
            assert_eq!(picture.content_type, content_type);
            let back = image::load_from_memory(&picture.bytes).expect("decodes");
            assert_eq!((back.width(), back.height()), (3, 2));
        }
    }

    #[test]
    fn renditions_fit_their_size_and_keep_the_aspect_never_growing() {
        let picture = reencode(&encoded(ImageFormat::Png, 600, 300)).expect("accepted");
        let sizes: Vec<(u32, (u32, u32))> = picture
            .renditions
            .iter()
            .map(|(size, bytes)| {
                let image = image::load_from_memory(bytes).expect("decodes");
                (*size, (image.width(), image.height()))
            })
            .collect();
        assert_eq!(sizes, [(256, (256, 128)), (64, (64, 32))]);
        let small = reencode(&encoded(ImageFormat::Jpeg, 100, 80)).expect("accepted");
        let (_, rendition) = &small.renditions[0];
        let image = image::load_from_memory(rendition).expect("decodes");
        assert_eq!((image.width(), image.height()), (100, 80), "not enlarged");
    }

    #[test]
    fn what_follows_the_image_data_is_dropped() {
        let mut bytes = encoded(ImageFormat::Png, 2, 2);
        bytes.extend_from_slice(b"<html><script>alert(1)</script></html>");
        let picture = reencode(&bytes).expect("the image itself decodes");
        assert!(
            !picture
                .bytes
                .windows(b"<script>".len())
                .any(|window| window == b"<script>")
        );
    }

    #[test]
    fn a_signature_without_an_image_is_refused() {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(b"<html>not an image</html>");
        assert!(matches!(reencode(&bytes), Err(PictureError::Broken(_))));
        assert!(matches!(
            reencode(b"GIF89a plain text"),
            Err(PictureError::Unsupported)
        ));
    }

    #[test]
    fn a_header_claiming_too_many_pixels_is_refused_before_decoding() {
        // A valid PNG header for 30000×30000 pixels before a 1×1 image's data.
        let mut bytes = encoded(ImageFormat::Png, 1, 1);
        bytes[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        // The header's CRC covers type and data: recompute it so only the size is "wrong".
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let refused = reencode(&bytes);
        assert!(
            matches!(
                refused,
                Err(PictureError::TooLarge {
                    width: 30_000,
                    height: 30_000
                })
            ),
            "{refused:?}"
        );
    }

    /// PNG's CRC-32 (ISO 3309), for the test's hand-made header.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
