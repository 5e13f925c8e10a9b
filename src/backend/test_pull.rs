//! An image pull as the unit tests build it: kubelet's request, and the [`FetchContext`] a
//! backend's `describe` and `fetch` take (compiled in tests only). Kept here rather than in
//! [`crate::test_util`], which the lowest modules use, so that helper module depends on no
//! backend.

use super::FetchContext;
use crate::deadline::{Deadline, DEFAULT_TIMEOUT};
use crate::image::ImageRef;
use crate::protocol::{ApiVersion, Request};
use crate::secret::Secret;

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

/// The value `describe` gave `label`, if it gave one.
pub fn fact(facts: &[(&'static str, String)], label: &str) -> Option<String> {
    facts
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, v)| v.clone())
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
