//! The lake's files as the embedded engine reads them: the local file system, with the byte
//! ranges of a Parquet read served on the calling thread.
//!
//! `object_store`'s `LocalFileSystem` hands every read to tokio's blocking pool and waits for it.
//! The lake's files sit in the page cache after the first query, so a read is a copy of a few
//! megabytes, and the hand-off cost more than the copy: while one of the two partitions waited
//! for its column chunks, its core sat idle (docs/performance.md, "Seventh round"). Reading on
//! the calling thread is what `LocalFileSystem` itself does outside a runtime. Everything else
//! (listing, metadata, writes) goes to `LocalFileSystem` unchanged.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::BoxStream;

#[derive(Debug, Default)]
pub struct LakeFiles {
    local: LocalFileSystem,
}

impl LakeFiles {
    pub fn new() -> LakeFiles {
        LakeFiles::default()
    }

    /// Reads `ranges` of the file at `location`, in order.
    fn read_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let path = self.local.path_to_filesystem(location)?;
        let generic = |source: std::io::Error| Error::Generic {
            store: "LakeFiles",
            source: format!("{}: {source}", path.display()).into(),
        };
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                path: path.display().to_string(),
                source: e.into(),
            },
            _ => generic(e),
        })?;
        let size = file.metadata().map_err(generic)?.len();
        ranges
            .iter()
            .map(|r| {
                // A range past the end (a file cut short after its footer was read, or a footer
                // that lies) is an error before anything is allocated for it.
                if r.start > r.end || r.end > size {
                    return Err(generic(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("bytes {}..{} asked of a file of {size} bytes", r.start, r.end),
                    )));
                }
                let len = usize::try_from(r.end - r.start).map_err(|e| generic(std::io::Error::other(e)))?;
                let mut buf = vec![0; len];
                file.read_exact_at(&mut buf, r.start).map_err(generic)?;
                Ok(Bytes::from(buf))
            })
            .collect()
    }
}

impl fmt::Display for LakeFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeFiles({})", self.local)
    }
}

#[async_trait]
impl ObjectStore for LakeFiles {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.read_ranges(location, ranges)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}
