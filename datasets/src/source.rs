//! Where dataset files come from: a data folder, the user cache, or a download.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::download::{agent, fetch_verified, file_url, sha256_hex};
use crate::idx::{parse_images, parse_labels, read_decoded};
use crate::kind::{IdxFile, IdxFiles};
use crate::{DataError, ImageDatasetKind, ImageSet, ImageSplits};

/// Where dataset files are looked for, and whether missing ones may be downloaded.
///
/// ```
/// use std::path::PathBuf;
/// use zoo_datasets::DataSource;
///
/// // What a CLI does: `--data-dir` if given, else the environment.
/// let source = DataSource::from_env(None);
/// // Or fully explicit:
/// let offline = DataSource {
///     data_dir: Some(PathBuf::from("/data")),
///     cache_dir: PathBuf::from("/tmp/zoo-cache"),
///     download: false,
///     mirrors: None,
/// };
/// # let _ = (source, offline);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSource {
    /// A folder holding one subfolder per dataset (`<data_dir>/mnist/...`), searched first.
    pub data_dir: Option<PathBuf>,
    /// The cache folder (`<cache_dir>/mnist/...`), searched second; downloads go here.
    pub cache_dir: PathBuf,
    /// Whether missing files may be downloaded.
    pub download: bool,
    /// Base URLs replacing the dataset's own mirrors (for tests and private mirrors).
    pub mirrors: Option<Vec<String>>,
}

impl DataSource {
    /// Reads the environment.
    ///
    /// - `data_dir`: `data_dir_flag` if given, else `$ZOO_DATA_DIR` (when set and non-empty);
    /// - `cache_dir`: `$ZOO_CACHE_DIR`, else `$XDG_CACHE_HOME/burn-zoo`, else
    ///   `$HOME/.cache/burn-zoo` (else `burn-zoo` in the system temporary folder);
    /// - `download`: true unless `$ZOO_OFFLINE` is `1` (or `true`, `yes`, `on`);
    /// - `mirrors`: `None` (the dataset's own mirrors).
    pub fn from_env(data_dir_flag: Option<PathBuf>) -> Self {
        Self::from_vars(data_dir_flag, |name| std::env::var_os(name))
    }

    fn from_vars(data_dir_flag: Option<PathBuf>, var: impl Fn(&str) -> Option<OsString>) -> Self {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let data_dir = data_dir_flag.or_else(|| var("ZOO_DATA_DIR").map(PathBuf::from));
        let cache_dir = var("ZOO_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("burn-zoo")))
            .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("burn-zoo")))
            .unwrap_or_else(|| std::env::temp_dir().join("burn-zoo"));
        let offline = var("ZOO_OFFLINE").is_some_and(|v| {
            let v = v.to_string_lossy().trim().to_ascii_lowercase();
            matches!(v.as_str(), "1" | "true" | "yes" | "on")
        });
        DataSource {
            data_dir,
            cache_dir,
            download: !offline,
            mirrors: None,
        }
    }

    /// The folders searched for `kind`, in order: `<data_dir>/<name>`, `<cache_dir>/<name>`.
    pub fn folders(&self, kind: ImageDatasetKind) -> Vec<PathBuf> {
        self.folders_named(kind.name())
    }

    /// The folders searched for the dataset called `name`, in order.
    pub fn folders_named(&self, name: &str) -> Vec<PathBuf> {
        self.data_dir
            .iter()
            .chain(std::iter::once(&self.cache_dir))
            .map(|dir| dir.join(name))
            .collect()
    }

    fn mirror_bases(&self, kind: ImageDatasetKind) -> Vec<String> {
        match &self.mirrors {
            Some(mirrors) => mirrors.clone(),
            None => kind.mirrors().iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// Loads the train and test sets of `kind`.
///
/// For each of the four canonical files, looks for `<data_dir>/<name>/<file>` then
/// `<cache_dir>/<name>/<file>` (the gzip name, or the same name without `.gz` for an
/// uncompressed copy) and checks the SHA-256 of its decompressed content. Missing files are
/// downloaded into `<cache_dir>/<name>/` from the mirrors in order, when
/// [`DataSource::download`] allows, with a progress bar on stderr; a download is verified
/// before it is moved into place. Files that are still missing produce one
/// [`DataError::Missing`] naming them, the folders searched and the URLs tried.
///
/// ```no_run
/// use zoo_datasets::{load_image_splits, DataSource, ImageDatasetKind};
///
/// let splits = load_image_splits(ImageDatasetKind::Mnist, &DataSource::from_env(None))?;
/// assert_eq!(splits.train.len(), 60_000);
/// # Ok::<(), zoo_datasets::DataError>(())
/// ```
pub fn load_image_splits(
    kind: ImageDatasetKind,
    source: &DataSource,
) -> Result<ImageSplits, DataError> {
    load_with_files(kind, source, &kind.files())
}

/// A located (or downloaded) file: where it is and its verified, decompressed bytes.
struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
}

fn load_with_files(
    kind: ImageDatasetKind,
    source: &DataSource,
    files: &IdxFiles,
) -> Result<ImageSplits, DataError> {
    let folders = source.folders(kind);
    let all = files.all();
    let mut loaded: Vec<Option<Loaded>> = Vec::with_capacity(all.len());
    for file in &all {
        loaded.push(match locate(&folders, file.name) {
            Some(path) => Some(read_verified(path, file)?),
            None => None,
        });
    }

    let missing: Vec<usize> = (0..all.len()).filter(|&i| loaded[i].is_none()).collect();
    if !missing.is_empty() {
        let bases = source.mirror_bases(kind);
        let mut tried = Vec::new();
        if source.download {
            let agent = agent();
            let cache = source.cache_dir.join(kind.name());
            for &i in &missing {
                let dest = cache.join(all[i].name);
                if let Some(bytes) = fetch_verified(&agent, &bases, &all[i], &dest, &mut tried)? {
                    loaded[i] = Some(Loaded { path: dest, bytes });
                }
            }
        } else {
            for &i in &missing {
                tried.extend(bases.iter().map(|b| file_url(b, all[i].name)));
            }
        }
        let still_missing: Vec<String> = missing
            .iter()
            .filter(|&&i| loaded[i].is_none())
            .map(|&i| all[i].name.to_string())
            .collect();
        if !still_missing.is_empty() {
            return Err(DataError::Missing {
                dataset: kind.name().to_string(),
                files: still_missing,
                searched: folders,
                downloaded: source.download,
                tried,
            });
        }
    }

    let mut loaded = loaded.into_iter().flatten();
    let mut next = || {
        loaded.next().ok_or_else(|| {
            DataError::InvalidSet("internal error: a dataset file was not loaded".to_string())
        })
    };
    let (train_images, train_labels, test_images, test_labels) =
        (next()?, next()?, next()?, next()?);
    Ok(ImageSplits {
        train: build_set(kind, train_images, train_labels)?,
        test: build_set(kind, test_images, test_labels)?,
    })
}

/// The first existing `<folder>/<name>` or `<folder>/<name without .gz>`.
fn locate(folders: &[PathBuf], name: &str) -> Option<PathBuf> {
    let names = [Some(name), name.strip_suffix(".gz")];
    folders
        .iter()
        .flat_map(|folder| names.iter().flatten().map(move |n| folder.join(n)))
        .find(|path| path.is_file())
}

fn read_verified(path: PathBuf, file: &IdxFile) -> Result<Loaded, DataError> {
    let bytes = read_decoded(&path)?;
    let actual = sha256_hex(&bytes);
    if actual != file.sha256 {
        return Err(DataError::HashMismatch {
            path,
            expected: file.sha256.to_string(),
            actual,
        });
    }
    Ok(Loaded { path, bytes })
}

/// Loads one text file of the dataset `dataset` (e.g. `tinyshakespeare`): looked up in
/// `<data_dir>/<dataset>/` then `<cache_dir>/<dataset>/`, verified by SHA-256, downloaded from
/// `mirrors` (or [`DataSource::mirrors`]) into the cache when missing and allowed.
///
/// ```no_run
/// use zoo_datasets::{load_text_file, DataSource, TINY_SHAKESPEARE, TINY_SHAKESPEARE_MIRRORS};
///
/// let text = load_text_file(
///     "tinyshakespeare",
///     &TINY_SHAKESPEARE,
///     TINY_SHAKESPEARE_MIRRORS,
///     &DataSource::from_env(None),
/// )?;
/// assert_eq!(text.len(), 1_115_394);
/// # Ok::<(), zoo_datasets::DataError>(())
/// ```
pub fn load_text_file(
    dataset: &str,
    file: &IdxFile,
    mirrors: &[&str],
    source: &DataSource,
) -> Result<String, DataError> {
    let folders = source.folders_named(dataset);
    let loaded = match locate(&folders, file.name) {
        Some(path) => read_verified(path, file)?,
        None => {
            let bases: Vec<String> = match &source.mirrors {
                Some(m) => m.clone(),
                None => mirrors.iter().map(|m| m.to_string()).collect(),
            };
            let mut tried = Vec::new();
            let dest = source.cache_dir.join(dataset).join(file.name);
            let fetched = if source.download {
                fetch_verified(&agent(), &bases, file, &dest, &mut tried)?
            } else {
                tried.extend(bases.iter().map(|b| file_url(b, file.name)));
                None
            };
            match fetched {
                Some(bytes) => Loaded { path: dest, bytes },
                None => {
                    return Err(DataError::Missing {
                        dataset: dataset.to_string(),
                        files: vec![file.name.to_string()],
                        searched: folders,
                        downloaded: source.download,
                        tried,
                    })
                }
            }
        }
    };
    String::from_utf8(loaded.bytes).map_err(|e| {
        DataError::InvalidSet(format!("{}: not UTF-8 text ({e})", display(&loaded.path)))
    })
}

fn build_set(
    kind: ImageDatasetKind,
    images: Loaded,
    labels: Loaded,
) -> Result<ImageSet, DataError> {
    let images_name = display(&images.path);
    let labels_name = display(&labels.path);
    let parsed_images = parse_images(&images.bytes, &images_name)?;
    drop(images.bytes);
    let parsed_labels = parse_labels(&labels.bytes, &labels_name)?;
    ImageSet::from_idx(
        parsed_images,
        parsed_labels,
        kind.num_classes(),
        &images_name,
        &labels_name,
    )
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::MINI_MNIST_FILES;
    use crate::idx::decode;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// `kind`'s file table, with the SHA-256 of the given gzip files (canonical order: train
    /// images, train labels, test images, test labels) in place of the real ones.
    fn table_with_hashes_of(kind: ImageDatasetKind, files: [(&str, &[u8]); 4]) -> IdxFiles {
        let hash = |i: usize| -> &'static str {
            let (name, gz) = files[i];
            let bytes = decode(gz, name).unwrap();
            Box::leak(sha256_hex(&bytes).into_boxed_str())
        };
        let real = kind.files();
        IdxFiles {
            train_images: IdxFile {
                sha256: hash(0),
                ..real.train_images
            },
            train_labels: IdxFile {
                sha256: hash(1),
                ..real.train_labels
            },
            test_images: IdxFile {
                sha256: hash(2),
                ..real.test_images
            },
            test_labels: IdxFile {
                sha256: hash(3),
                ..real.test_labels
            },
        }
    }

    /// The MNIST file table with the hashes of the embedded mini files.
    fn mini_table() -> IdxFiles {
        table_with_hashes_of(ImageDatasetKind::Mnist, MINI_MNIST_FILES)
    }

    fn source(
        data_dir: Option<&Path>,
        cache_dir: &Path,
        download: bool,
        mirrors: Option<Vec<String>>,
    ) -> DataSource {
        DataSource {
            data_dir: data_dir.map(Path::to_path_buf),
            cache_dir: cache_dir.to_path_buf(),
            download,
            mirrors,
        }
    }

    fn write_mini(folder: &Path, which: &[usize]) {
        std::fs::create_dir_all(folder).unwrap();
        for &i in which {
            let (name, gz) = MINI_MNIST_FILES[i];
            std::fs::write(folder.join(name), gz).unwrap();
        }
    }

    /// Serves the embedded mini files under `/mnist/<name>` on 127.0.0.1; returns the base URL
    /// and a counter of requests.
    fn serve_mini() -> (String, Arc<AtomicUsize>) {
        let routes = MINI_MNIST_FILES
            .iter()
            .map(|(name, gz)| (format!("/mnist/{name}"), gz.to_vec()))
            .collect();
        let (root, hits) = serve(routes);
        (format!("{root}mnist/"), hits)
    }

    /// Serves `(path, body)` routes on 127.0.0.1 (404 for any other path); returns the root
    /// URL (`http://127.0.0.1:PORT/`) and a counter of requests.
    fn serve(routes: Vec<(String, Vec<u8>)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}/", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Ok(read_half) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(read_half);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n"
                {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = routes
                    .iter()
                    .find(|(route, _)| *route == path)
                    .map(|(_, body)| body.as_slice());
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", &b""[..]),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream
                    .write_all(head.as_bytes())
                    .and_then(|()| stream.write_all(body));
            }
        });
        (root, hits)
    }

    /// A base URL on which nothing listens.
    fn dead_mirror() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}/mnist/")
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    #[test]
    fn from_vars_follows_the_documented_precedence() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            move |name: &str| map.get(name).cloned()
        };
        let s = DataSource::from_vars(None, env(&[("HOME", "/home/u")]));
        assert_eq!(s.data_dir, None);
        assert_eq!(s.cache_dir, PathBuf::from("/home/u/.cache/burn-zoo"));
        assert!(s.download);
        assert_eq!(s.mirrors, None);

        let vars = [
            ("HOME", "/home/u"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("ZOO_DATA_DIR", "/data"),
            ("ZOO_OFFLINE", "1"),
        ];
        let s = DataSource::from_vars(None, env(&vars));
        assert_eq!(s.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(s.cache_dir, PathBuf::from("/xdg/burn-zoo"));
        assert!(!s.download);

        let s = DataSource::from_vars(
            Some(PathBuf::from("/flag")),
            env(&[
                ("ZOO_DATA_DIR", "/data"),
                ("ZOO_CACHE_DIR", "/cache"),
                ("XDG_CACHE_HOME", "/xdg"),
                ("ZOO_OFFLINE", "0"),
            ]),
        );
        assert_eq!(s.data_dir, Some(PathBuf::from("/flag")));
        assert_eq!(s.cache_dir, PathBuf::from("/cache"));
        assert!(s.download);

        let s = DataSource::from_vars(None, env(&[("ZOO_DATA_DIR", ""), ("HOME", "/h")]));
        assert_eq!(s.data_dir, None, "an empty ZOO_DATA_DIR counts as unset");
    }

    #[test]
    fn offline_error_lists_files_folders_and_urls() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let src = source(Some(data.path()), cache.path(), false, None);
        let err = load_image_splits(ImageDatasetKind::Mnist, &src).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err}");
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        for file in ImageDatasetKind::Mnist.files().all() {
            assert!(msg.contains(file.name), "{msg}");
            for mirror in ImageDatasetKind::Mnist.mirrors() {
                assert!(msg.contains(&format!("{mirror}{}", file.name)), "{msg}");
            }
        }
        assert!(
            msg.contains(&data.path().join("mnist").display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(&cache.path().join("mnist").display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains("ZOO_DATA_DIR") && msg.contains("--data-dir"),
            "{msg}"
        );
        assert!(msg.contains("ZOO_OFFLINE"), "{msg}");
        assert!(files_in(cache.path()).is_empty(), "nothing written offline");
    }

    #[test]
    fn offline_error_names_only_the_missing_files() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        write_mini(&data.path().join("mnist"), &[0, 1]);
        // An uncompressed copy is accepted too.
        let (name, gz) = MINI_MNIST_FILES[2];
        write_mini(&cache.path().join("mnist"), &[]);
        let raw_path = cache
            .path()
            .join("mnist")
            .join(name.trim_end_matches(".gz"));
        std::fs::write(raw_path, decode(gz, name).unwrap()).unwrap();
        let src = source(Some(data.path()), cache.path(), false, None);
        let msg = load_with_files(ImageDatasetKind::Mnist, &src, &mini_table())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing t10k-labels-idx1-ubyte.gz;"), "{msg}");
        assert!(!msg.contains("train-images"), "{msg}");
        assert!(!msg.contains("t10k-images"), "{msg}");
    }

    #[test]
    fn local_files_load_when_hashes_match() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        write_mini(&data.path().join("mnist"), &[0, 1, 2, 3]);
        let src = source(Some(data.path()), cache.path(), false, None);
        let splits = load_with_files(ImageDatasetKind::Mnist, &src, &mini_table()).unwrap();
        let embedded = crate::embedded_mini_mnist().unwrap();
        assert_eq!(splits.train.len(), 2000);
        assert_eq!(splits.test.len(), 500);
        assert_eq!(splits.train.pixels(), embedded.train.pixels());
        assert_eq!(splits.test.labels(), embedded.test.labels());
    }

    #[test]
    fn local_file_with_wrong_hash_is_an_error_naming_it() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        write_mini(&data.path().join("mnist"), &[0, 1, 2, 3]);
        // The real MNIST hashes do not match the mini files.
        let src = source(
            Some(data.path()),
            cache.path(),
            true,
            Some(vec![dead_mirror()]),
        );
        let err = load_image_splits(ImageDatasetKind::Mnist, &src).unwrap_err();
        let DataError::HashMismatch {
            path,
            expected,
            actual,
        } = &err
        else {
            panic!("expected a hash mismatch, got {err}");
        };
        assert_eq!(
            path,
            &data.path().join("mnist").join("train-images-idx3-ubyte.gz")
        );
        assert_eq!(
            expected,
            ImageDatasetKind::Mnist.files().train_images.sha256
        );
        assert_eq!(actual, mini_table().train_images.sha256);
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte.gz")
                && msg.contains(expected)
                && msg.contains(actual.as_str())
        );
    }

    #[test]
    fn download_falls_back_to_the_next_mirror_verifies_and_caches() {
        let cache = tempfile::tempdir().unwrap();
        let (base, hits) = serve_mini();
        let src = source(None, cache.path(), true, Some(vec![dead_mirror(), base]));
        let table = mini_table();
        let splits = load_with_files(ImageDatasetKind::Mnist, &src, &table).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (2000, 500));
        assert_eq!(splits.train.class_counts(), vec![200; 10]);
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        let mut expected: Vec<String> = table.all().iter().map(|f| f.name.to_string()).collect();
        expected.sort();
        assert_eq!(
            files_in(&cache.path().join("mnist")),
            expected,
            "only the four files, no temp files"
        );
        for (name, gz) in MINI_MNIST_FILES {
            assert_eq!(
                std::fs::read(cache.path().join("mnist").join(name)).unwrap(),
                gz
            );
        }
        // Second load: served from the cache, even offline, with no request.
        let offline = source(None, cache.path(), false, None);
        let again = load_with_files(ImageDatasetKind::Mnist, &offline, &table).unwrap();
        assert_eq!(again.train.labels(), splits.train.labels());
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn downloaded_file_with_wrong_hash_is_rejected_and_not_cached() {
        let cache = tempfile::tempdir().unwrap();
        let (base, hits) = serve_mini();
        // The server sends the mini files; the real MNIST hashes cannot match.
        let src = source(None, cache.path(), true, Some(vec![base.clone()]));
        let err = load_image_splits(ImageDatasetKind::Mnist, &src).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Missing {
                    downloaded: true,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("SHA-256 mismatch"), "{msg}");
        assert!(
            msg.contains(&format!("{base}train-images-idx3-ubyte.gz")),
            "{msg}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        assert!(
            files_in(&cache.path().join("mnist")).is_empty(),
            "nothing cached"
        );
    }

    #[test]
    fn http_errors_are_reported_per_url() {
        let cache = tempfile::tempdir().unwrap();
        let (base, _) = serve_mini();
        let src = source(
            None,
            cache.path(),
            true,
            Some(vec![format!("{base}nowhere/")]),
        );
        let msg = load_with_files(ImageDatasetKind::Mnist, &src, &mini_table())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("404"), "{msg}");
        assert!(msg.contains("nowhere/t10k-labels-idx1-ubyte.gz"), "{msg}");
    }

    /// Small made-up Fashion-MNIST-format files, gzip-compressed, in the canonical order:
    /// 20 train and 10 test images of 28x28, label `i % 10`.
    fn fake_fashion_files() -> Vec<(&'static str, Vec<u8>)> {
        use flate2::write::GzEncoder;
        fn gzip(bytes: &[u8]) -> Vec<u8> {
            let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        let images = |count: u32, salt: u8| {
            let mut bytes = [2051u32, count, 28, 28]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<u8>>();
            bytes.extend((0..count as usize * 784).map(|i| (i as u8).wrapping_mul(7) ^ salt));
            gzip(&bytes)
        };
        let labels = |count: u32| {
            let mut bytes = [2049u32, count]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<u8>>();
            bytes.extend((0..count).map(|i| (i % 10) as u8));
            gzip(&bytes)
        };
        let names = ImageDatasetKind::FashionMnist.files().all().map(|f| f.name);
        vec![
            (names[0], images(20, 0x5a)),
            (names[1], labels(20)),
            (names[2], images(10, 0xa5)),
            (names[3], labels(10)),
        ]
    }

    /// The Fashion-MNIST file table with the hashes of `fake_fashion_files`.
    fn fake_fashion_table(files: &[(&'static str, Vec<u8>)]) -> IdxFiles {
        let file = |i: usize| (files[i].0, files[i].1.as_slice());
        table_with_hashes_of(
            ImageDatasetKind::FashionMnist,
            [file(0), file(1), file(2), file(3)],
        )
    }

    fn serve_fashion(files: &[(&'static str, Vec<u8>)]) -> (String, Arc<AtomicUsize>) {
        let routes = files
            .iter()
            .map(|(name, body)| (format!("/fashion-mnist/{name}"), body.clone()))
            .collect();
        let (root, hits) = serve(routes);
        (format!("{root}fashion-mnist/"), hits)
    }

    #[test]
    fn fashion_offline_error_names_its_folders_and_mirrors() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        // MNIST files in the MNIST folder must not be taken for Fashion-MNIST.
        write_mini(&data.path().join("mnist"), &[0, 1, 2, 3]);
        let src = source(Some(data.path()), cache.path(), false, None);
        let kind = ImageDatasetKind::FashionMnist;
        let err = load_image_splits(kind, &src).unwrap_err();
        assert!(matches!(err, DataError::Missing { .. }), "{err}");
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.starts_with("fashion-mnist: missing "), "{msg}");
        for file in kind.files().all() {
            assert!(msg.contains(file.name), "{msg}");
            for mirror in kind.mirrors() {
                assert!(msg.contains(&format!("{mirror}{}", file.name)), "{msg}");
            }
        }
        for folder in [data.path(), cache.path()] {
            let expected = folder.join("fashion-mnist").display().to_string();
            assert!(msg.contains(&expected), "{msg}");
        }
        assert!(msg.contains("<folder>/fashion-mnist/"), "{msg}");
        assert!(!msg.contains(&data.path().join("mnist").display().to_string()));
        assert_eq!(
            src.folders(kind),
            vec![
                data.path().join("fashion-mnist"),
                cache.path().join("fashion-mnist")
            ]
        );
    }

    #[test]
    fn fashion_download_with_a_checksum_mismatch_is_rejected() {
        let cache = tempfile::tempdir().unwrap();
        let files = fake_fashion_files();
        let (base, hits) = serve_fashion(&files);
        // Made-up files cannot have the real Fashion-MNIST hashes.
        let src = source(None, cache.path(), true, Some(vec![base.clone()]));
        let err = load_image_splits(ImageDatasetKind::FashionMnist, &src).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Missing {
                    downloaded: true,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("SHA-256 mismatch"), "{msg}");
        let real = ImageDatasetKind::FashionMnist.files();
        assert!(msg.contains(real.train_images.sha256), "{msg}");
        assert!(
            msg.contains(&format!("{base}t10k-labels-idx1-ubyte.gz")),
            "{msg}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        assert!(
            files_in(&cache.path().join("fashion-mnist")).is_empty(),
            "nothing cached"
        );
    }

    #[test]
    fn fashion_download_verifies_and_caches_in_its_own_folder() {
        let cache = tempfile::tempdir().unwrap();
        let files = fake_fashion_files();
        let table = fake_fashion_table(&files);
        let (base, hits) = serve_fashion(&files);
        let src = source(None, cache.path(), true, Some(vec![dead_mirror(), base]));
        let kind = ImageDatasetKind::FashionMnist;
        let splits = load_with_files(kind, &src, &table).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (20, 10));
        assert_eq!(splits.train.num_classes(), 10);
        assert_eq!(splits.test.class_counts(), vec![1; 10]);
        assert_eq!(splits.train.label(13), 3);
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        let mut expected: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
        expected.sort();
        assert_eq!(files_in(&cache.path().join("fashion-mnist")), expected);
        assert!(files_in(&cache.path().join("mnist")).is_empty());
        // Served from the cache afterwards, offline and without a request.
        let offline = source(None, cache.path(), false, None);
        let again = load_with_files(kind, &offline, &table).unwrap();
        assert_eq!(again.train.pixels(), splits.train.pixels());
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        // The same bytes with one flipped pixel are rejected from the data folder.
        let data = tempfile::tempdir().unwrap();
        let folder = data.path().join("fashion-mnist");
        std::fs::create_dir_all(&folder).unwrap();
        let mut raw = decode(&files[2].1, files[2].0).unwrap().into_owned();
        raw[100] ^= 1;
        std::fs::write(folder.join("t10k-images-idx3-ubyte"), raw).unwrap();
        let src = source(Some(data.path()), cache.path(), false, None);
        let err = load_with_files(kind, &src, &table).unwrap_err();
        let DataError::HashMismatch { path, .. } = &err else {
            panic!("expected a hash mismatch, got {err}");
        };
        assert_eq!(path, &folder.join("t10k-images-idx3-ubyte"));
    }

    /// Says why a test skips, on the real stderr (the harness does not capture it).
    fn skip(reason: &str) {
        let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    }

    /// The real Fashion-MNIST through `ZOO_DATA_DIR` (skipped when unset or missing).
    #[test]
    fn full_fashion_mnist_from_zoo_data_dir() {
        let Some(dir) = std::env::var_os("ZOO_DATA_DIR").filter(|d| !d.is_empty()) else {
            skip("ZOO_DATA_DIR is not set");
            return;
        };
        let dir = PathBuf::from(dir);
        if !dir.join("fashion-mnist").is_dir() {
            skip(&format!("{} has no fashion-mnist/ folder", dir.display()));
            return;
        }
        let cache = tempfile::tempdir().unwrap();
        let src = source(Some(&dir), cache.path(), false, None);
        let splits = load_image_splits(ImageDatasetKind::FashionMnist, &src).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
        // Fashion-MNIST is exactly balanced.
        assert_eq!(splits.train.class_counts(), vec![6_000; 10]);
        assert_eq!(splits.test.class_counts(), vec![1_000; 10]);
    }

    /// The real MNIST through `ZOO_DATA_DIR` (skipped when unset or missing).
    #[test]
    fn full_mnist_from_zoo_data_dir() {
        let Some(dir) = std::env::var_os("ZOO_DATA_DIR").filter(|d| !d.is_empty()) else {
            skip("ZOO_DATA_DIR is not set");
            return;
        };
        let dir = PathBuf::from(dir);
        if !dir
            .join("mnist")
            .join("train-images-idx3-ubyte.gz")
            .is_file()
        {
            skip(&format!("{} has no mnist/ files", dir.display()));
            return;
        }
        let cache = tempfile::tempdir().unwrap();
        let src = source(Some(&dir), cache.path(), false, None);
        let splits = load_image_splits(ImageDatasetKind::Mnist, &src).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
        assert_eq!((splits.train.rows(), splits.train.cols()), (28, 28));
        // Known class counts of the MNIST test set.
        assert_eq!(
            splits.test.class_counts(),
            vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert_eq!(splits.train.label(0), 5);
    }
}
