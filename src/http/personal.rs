//! What the follow-up handlers share: the caller as the follow-up service
//! sees them, and the header that keeps answers with personal data out of
//! caches.

use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::auth::{Caller, Role};
use crate::follow_ups::Requester;

/// The caller as the follow-up service sees them.
pub fn requester(caller: &Caller) -> Requester<'_> {
    Requester {
        name: &caller.name,
        role: caller.role.as_str(),
        staff: matches!(caller.role, Role::Admin | Role::Coordinator),
        specialist: caller.specialist.as_deref(),
    }
}

/// Answers must not be kept by browsers or proxies: they hold personal data.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A file as a response body, sent in chunks as it is read.
pub fn file_body(file: tokio::fs::File) -> axum::body::Body {
    axum::body::Body::from_stream(FileChunks {
        file,
        buf: vec![0; 32 * 1024].into_boxed_slice(),
    })
}

/// A file sent in chunks as it is read.
struct FileChunks {
    file: tokio::fs::File,
    buf: Box<[u8]>,
}

impl futures_core::Stream for FileChunks {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use tokio::io::AsyncRead;
        let this = &mut *self;
        let mut read = tokio::io::ReadBuf::new(&mut this.buf);
        match std::pin::Pin::new(&mut this.file).poll_read(cx, &mut read) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Ready(Ok(())) if read.filled().is_empty() => {
                std::task::Poll::Ready(None)
            }
            std::task::Poll::Ready(Ok(())) => {
                std::task::Poll::Ready(Some(Ok(bytes::Bytes::copy_from_slice(read.filled()))))
            }
        }
    }
}
