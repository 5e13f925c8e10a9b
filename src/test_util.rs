//! Helpers for the unit tests of several modules (compiled in tests only).

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::FetchContext;
use crate::deadline::{Deadline, DEFAULT_TIMEOUT};
use crate::image::ImageRef;
use crate::protocol::{ApiVersion, Request};
use crate::secret::Secret;

/// A fresh directory under the system temp dir, removed with its contents on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `tag` only makes the name readable.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ccp-unit-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// Writes `text` to `name` inside the directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A v1 request kubelet could send for `image`, with a service-account token and annotations
/// when the test gives them.
pub fn request(image: &str, token: Option<&str>, annotations: &[(&str, &str)]) -> Request {
    Request {
        api_version: ApiVersion::V1,
        image: image.to_string(),
        service_account_token: token.map(|t| Secret::new(t.to_string())),
        service_account_annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// One image pull as a backend sees it: the image, kubelet's request for it and a deadline,
/// lent out as the [`FetchContext`] that `describe` and `fetch` take.
pub struct Pull {
    /// The normalised image.
    pub image: ImageRef,
    /// The request for it.
    pub request: Request,
    deadline: Deadline,
}

impl Pull {
    /// A pull of `image` (which must parse) with [`request`]'s token and annotations.
    pub fn new(image: &str, token: Option<&str>, annotations: &[(&str, &str)]) -> Pull {
        let image = ImageRef::parse(image).unwrap_or_else(|e| panic!("image {image:?}: {e}"));
        let request = request(&image.name(), token, annotations);
        Pull {
            image,
            request,
            deadline: Deadline::after(DEFAULT_TIMEOUT),
        }
    }

    /// What a backend is handed for this pull.
    pub fn context(&self) -> FetchContext<'_> {
        FetchContext {
            image: &self.image,
            request: &self.request,
            deadline: self.deadline,
        }
    }
}
