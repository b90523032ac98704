//! Where a file sink, a table sink or the state store writes: a local directory or an
//! object-store URL, turned into an [`ObjectStore`] plus a base prefix.
//!
//! Parsing ([`TargetSpec::parse`]) is pure and runs at build time, so `tributary validate` catches
//! a bad URL or an unsafe `allow_http`; opening ([`TargetSpec::open`]) creates the local
//! directory or the cloud client and runs at `start()`. Cloud credentials come from the standard
//! environment of each provider (`AWS_*`, `GOOGLE_*`, `AZURE_*`), never from the pipeline file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
#[cfg(feature = "s3")]
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
#[cfg(feature = "azure")]
use object_store::azure::MicrosoftAzureBuilder;
#[cfg(feature = "gcs")]
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use url::Url;

use crate::error::{BuildError, RunError};

/// Options of the object-store client (config keys `endpoint`, `allow_http`, `region`): the one
/// type every file/table sink and the state store (`[pipeline.state]`) hand to
/// [`TargetSpec::parse`], so the keys mean and are checked the same everywhere. Credentials are
/// never options: they come from the provider's standard environment.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(default)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible store (MinIO, Ceph, moto) or of an Azure Blob emulator
    /// (Azurite), e.g. `https://minio.internal:9000`. Only with `s3://` and `az://` paths.
    /// Default: the provider's endpoint (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Allow a plain `http://` endpoint. Refused unless `endpoint` is a loopback address
    /// (127.0.0.1, ::1, localhost): meant for local test servers. Default: false.
    pub allow_http: bool,
    /// S3 region. Only with `s3://` paths. Default: `AWS_REGION`/`AWS_DEFAULT_REGION` from the
    /// environment, else `us-east-1`.
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    Local(PathBuf),
    S3(Url),
    Gcs(Url),
    Azure(Url),
}

impl Location {
    /// Refuses a cloud location whose back-end this build leaves out (the cargo features `s3`,
    /// `gcs`, `azure` of tributary-core; all on in the released binary).
    fn require_backend(&self, path: &str) -> Result<(), BuildError> {
        let (store, feature, built) = match self {
            Location::Local(_) => return Ok(()),
            Location::S3(_) => ("S3", "s3", cfg!(feature = "s3")),
            Location::Gcs(_) => ("Google Cloud Storage", "gcs", cfg!(feature = "gcs")),
            Location::Azure(_) => ("Azure Blob Storage", "azure", cfg!(feature = "azure")),
        };
        if built {
            return Ok(());
        }
        Err(missing_backend(path, store, feature))
    }
}

/// The error for a cloud path in a build without its back-end.
fn missing_backend(path: &str, store: &str, feature: &str) -> BuildError {
    BuildError::at(
        "path",
        format!("`{path}`: this tributary was built without {store} support"),
    )
    .with_help(format!(
        "use the released binary or `make install` (every store built in), or build with \
         `cargo build -p tributary --features cloud` (tributary-core feature `{feature}`)"
    ))
}

/// A parsed, validated output location; no I/O has happened yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    location: Location,
    base: Path,
    options: StoreOptions,
    display: String,
}

/// An opened output location: the store, the base prefix inside it, and a display name.
#[derive(Clone)]
pub struct Target {
    /// The store holding the lake.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix of the table inside `store` (empty for a local directory: the store is rooted
    /// there).
    pub base: Path,
    /// What to call this location in messages and reports (`/data/lake`, `s3://bkt/raw`).
    pub display: String,
    /// The directory on disk, for a local target (used to tidy empty staging directories, which
    /// object stores do not have).
    pub local_root: Option<PathBuf>,
    /// The local directories [`TargetSpec::open`] created, removed again if still empty when the
    /// last clone of this target goes away (a run that failed before writing leaves no empty
    /// output directory behind).
    _created: Option<Arc<CreatedDirs>>,
}

/// Directories created for a local target, deepest last; see [`Target`].
#[derive(Debug)]
struct CreatedDirs(Vec<PathBuf>);

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        // `remove_dir` only removes an empty directory: anything written (committed files,
        // a manifest, files a crashed run left for the next to finish) keeps it, and its parents.
        for dir in self.0.iter().rev() {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// `dir` and its missing ancestors, outermost first (what `create_dir_all(dir)` will create).
fn missing_dirs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| !d.exists())
        .map(std::path::Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("display", &self.display)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// A target over an existing store (tests, embedding).
    pub fn new(store: Arc<dyn ObjectStore>, base: Path, display: impl Into<String>) -> Self {
        Self {
            store,
            base,
            display: display.into(),
            local_root: None,
            _created: None,
        }
    }

    /// `base/relative` (relative is a `/`-separated object path, already escaped).
    pub fn path(&self, relative: &str) -> Path {
        join(&self.base, relative)
    }

    /// `relative` as it appears to a user: `<display>/<relative>`.
    pub fn display_path(&self, relative: &str) -> String {
        format!("{}/{}", self.display.trim_end_matches('/'), relative)
    }

    /// `path` relative to `base` (for manifests, which stay valid if the table is moved).
    pub fn relative(&self, path: &Path) -> String {
        self.relative_str(path.as_ref())
    }

    /// [`Target::relative`] for a path held as a string.
    pub fn relative_str(&self, path: &str) -> String {
        let base = self.base.as_ref();
        if base.is_empty() {
            return path.to_owned();
        }
        path.strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(path)
            .to_owned()
    }
}

/// `base/relative` without re-encoding `relative`: its segments are already safe names (Hive
/// escaping leaves no `/`, control character, `.` or `..`). A segment that is not valid anyway is
/// percent-encoded by `object_store` rather than trusted.
pub fn join(base: &Path, relative: &str) -> Path {
    let parts = relative
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| PathPart::parse(s).unwrap_or_else(|_| PathPart::from(s)));
    Path::from_iter(base.parts().chain(parts))
}

impl StoreOptions {
    /// The config keys of these options, for did-you-mean on unknown keys.
    pub const KEYS: [&'static str; 3] = ["endpoint", "allow_http", "region"];
}

impl TargetSpec {
    /// Parses the `path` key: a local directory (`/data/lake`, `./out`), `file:///data/lake`,
    /// `s3://bucket/prefix` (also `s3a://`), `gs://bucket/prefix`, or `az://container/prefix`
    /// (also `abfs[s]://`). Pure: nothing is opened.
    pub fn parse(path: &str, options: StoreOptions) -> Result<Self, BuildError> {
        if path.trim().is_empty() {
            return Err(BuildError::at("path", "`path` is empty")
                .with_help("set it to a directory or an s3://, gs:// or az:// URL"));
        }
        let location = if path.contains("://") {
            let url = Url::parse(path)
                .map_err(|e| BuildError::at("path", format!("`{path}` is not a valid URL: {e}")))?;
            match url.scheme() {
                "file" => Location::Local(url.to_file_path().map_err(|()| {
                    BuildError::at("path", format!("`{path}` is not a local file URL"))
                        .with_help("write file:///absolute/dir")
                })?),
                "s3" | "s3a" => Location::S3(url),
                "gs" => Location::Gcs(url),
                "az" | "abfs" | "abfss" | "azure" => Location::Azure(url),
                "http" | "https" => {
                    return Err(BuildError::at(
                        "path",
                        format!("`{path}`: HTTP URLs are not a lake location"),
                    )
                    .with_help(
                        "for an S3-compatible store write path = \"s3://bucket/prefix\" and \
                         endpoint = \"<the http(s) URL>\"",
                    ));
                }
                other => {
                    return Err(BuildError::at(
                        "path",
                        format!("unsupported URL scheme `{other}` in `{path}`"),
                    )
                    .with_help("use a local directory, file://, s3://, gs:// or az://"));
                }
            }
        } else {
            Location::Local(PathBuf::from(path))
        };
        let base = match &location {
            Location::Local(_) => Path::default(),
            Location::S3(url) | Location::Gcs(url) | Location::Azure(url) => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(BuildError::at("path", format!("`{path}` names no bucket"))
                        .with_help("write s3://bucket/prefix"));
                }
                Path::from_url_path(url.path()).map_err(|e| {
                    BuildError::at(
                        "path",
                        format!("`{path}` has an invalid object prefix: {e}"),
                    )
                })?
            }
        };
        location.require_backend(path)?;
        validate_options(&location, &options)?;
        Ok(Self {
            location,
            base,
            options,
            display: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The location as the user wrote it (for messages and reports).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The object-store client options (no secrets: credentials come from the environment).
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Whether this is a local directory.
    pub fn is_local(&self) -> bool {
        matches!(self.location, Location::Local(_))
    }

    /// Opens the location: creates a local directory, or configures the cloud client from the
    /// environment. Cloud clients make no request until the first write.
    pub fn open(&self) -> Result<Target, RunError> {
        if let Location::Local(dir) = &self.location {
            return self.open_local(dir);
        }
        Ok(Target {
            store: self.open_cloud()?,
            base: self.base.clone(),
            display: self.display.clone(),
            local_root: None,
            _created: None,
        })
    }

    fn open_local(&self, dir: &std::path::Path) -> Result<Target, RunError> {
        let created = missing_dirs(dir);
        std::fs::create_dir_all(dir).map_err(|e| {
            RunError::msg(format!(
                "cannot create the output directory {}: {e} (check the path and its \
                 permissions)",
                dir.display()
            ))
        })?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| {
            RunError::msg(format!(
                "cannot open the output directory {}: {e}",
                dir.display()
            ))
        })?;
        let root = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Ok(Target {
            store: Arc::new(store),
            base: self.base.clone(),
            display: self.display.clone(),
            local_root: Some(root),
            _created: (!created.is_empty()).then(|| Arc::new(CreatedDirs(created))),
        })
    }

    /// The client of a cloud location, configured from the environment and the options.
    fn open_cloud(&self) -> Result<Arc<dyn ObjectStore>, RunError> {
        match &self.location {
            #[cfg(feature = "s3")]
            Location::S3(url) => self.open_s3(url),
            #[cfg(feature = "gcs")]
            Location::Gcs(url) => Ok(Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_url(bucket_url(url))
                    .build()
                    .map_err(|e| self.open_error(e))?,
            )),
            #[cfg(feature = "azure")]
            Location::Azure(url) => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(bucket_url(url));
                if let Some(endpoint) = &self.options.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                b = b.with_allow_http(self.options.allow_http);
                Ok(Arc::new(b.build().map_err(|e| self.open_error(e))?))
            }
            // A spec is only built by `parse`, which refuses a back-end this build lacks; kept
            // as an error (not a panic) for a spec built any other way.
            other => Err(RunError::msg(
                other.require_backend(&self.display).err().map_or_else(
                    || format!("{} is not an object store", self.display),
                    |e| e.to_string(),
                ),
            )),
        }
    }

    #[cfg(feature = "s3")]
    fn open_s3(&self, url: &Url) -> Result<Arc<dyn ObjectStore>, RunError> {
        let mut b = AmazonS3Builder::from_env().with_url(bucket_url(url));
        if let Some(endpoint) = &self.options.endpoint {
            b = b.with_endpoint(endpoint);
        }
        if let Some(region) = &self.options.region {
            b = b.with_region(region);
        }
        // Always explicit: an `AWS_ALLOW_HTTP` left in the environment must not downgrade a
        // production endpoint to plain HTTP behind the pipeline's back.
        b = b.with_allow_http(self.options.allow_http);
        // An http:// endpoint from the environment (`AWS_ENDPOINT_URL`) would fail every request
        // with a bare "builder error": say so before the first one.
        if !self.options.allow_http
            && let Some(endpoint) = b
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .filter(|e| e.starts_with("http://"))
        {
            let endpoint = strip_queries(&endpoint);
            return Err(RunError::msg(format!(
                "{}: the endpoint {endpoint} (from AWS_ENDPOINT_URL or AWS_ENDPOINT in the \
                 environment) is plain HTTP, which is refused unless the pipeline allows it: next \
                 to this `path` (for the state, in a `[pipeline.state]` table) set \
                 `endpoint = \"{endpoint}\"` and `allow_http = true` (only for a local \
                 endpoint), or use https://",
                self.display
            )));
        }
        Ok(Arc::new(b.build().map_err(|e| self.open_error(e))?))
    }

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    fn open_error(&self, e: object_store::Error) -> RunError {
        RunError::msg(format!(
            "cannot configure the object store for {}: {e} (credentials and settings come from \
             the provider's standard environment, e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/\
             AWS_REGION)",
            self.display
        ))
    }
}

/// An object-store error in words for people: the cause and the fix, naming the URL of the
/// request and never a credential (query strings are cut from URLs: an Azure SAS token travels
/// there). Unrecognized errors keep their text, cut the same way; a bare "builder error" (how the
/// HTTP client reports a plain-HTTP request it refused) never reaches a user.
pub fn describe_store_error(e: &object_store::Error) -> String {
    let text = e.to_string();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let at = request_url(&text)
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    if has(&["NoSuchBucket", "ContainerNotFound", "bucket does not exist"]) {
        format!("the bucket does not exist{at}: create it, or fix the bucket in `path`")
    } else if has(&["builder error"]) {
        format!(
            "the request{at} was refused before it was sent because it is plain HTTP: for a \
             local test server set `endpoint = \"http://127.0.0.1:PORT\"` and \
             `allow_http = true` (refused for any other host), otherwise use an https:// endpoint"
        )
    } else if has(&[
        "error sending request",
        "Connection refused",
        "connection refused",
        "dns error",
        "tcp connect error",
    ]) {
        format!(
            "cannot reach the store{at}: check `endpoint` (scheme, host and port) and that the \
             server is up and reachable from here (network, proxy, firewall)"
        )
    } else if has(&[
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "403 Forbidden",
        "AuthorizationFailure",
    ]) {
        format!(
            "access denied{at}: check the credentials in the environment (AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY) and \
             the bucket's permissions for them"
        )
    } else if has(&[
        "AuthorizationHeaderMalformed",
        "PermanentRedirect",
        "IllegalLocationConstraint",
        "301 Moved Permanently",
    ]) {
        format!("the bucket is in another region{at}: set `region` to the bucket's region")
    } else {
        strip_queries(&text)
    }
}

/// The first http(s) URL in `text`, without its query string.
fn request_url(text: &str) -> Option<String> {
    let start = text.find("https://").or_else(|| text.find("http://"))?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '?')
        .collect();
    Some(url)
}

/// `text` with every `?query` of a URL removed (up to the next whitespace).
fn strip_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_url = false;
            skipping = false;
        } else if text[i..].starts_with("http://") || text[i..].starts_with("https://") {
            in_url = true;
        } else if in_url && c == '?' {
            skipping = true;
        }
        if !skipping {
            out.push(c);
        }
    }
    out
}

/// `scheme://bucket` — the builders take the bucket from the URL; the prefix is ours.
#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn bucket_url(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

fn validate_options(location: &Location, options: &StoreOptions) -> Result<(), BuildError> {
    let remote_with_endpoint = matches!(location, Location::S3(_) | Location::Azure(_));
    if let Some(endpoint) = &options.endpoint {
        if !remote_with_endpoint {
            return Err(BuildError::at(
                "endpoint",
                "`endpoint` applies only to s3:// and az:// paths",
            )
            .with_help("remove it, or make `path` an s3:// URL"));
        }
        let url = Url::parse(endpoint).map_err(|e| {
            BuildError::at("endpoint", format!("`{endpoint}` is not a valid URL: {e}"))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if options.allow_http => {
                if !is_loopback(&url) {
                    return Err(BuildError::at(
                        "allow_http",
                        format!(
                            "`allow_http` is refused for `{endpoint}`: plain HTTP is only allowed \
                             to a loopback endpoint (127.0.0.1, ::1, localhost), because it would \
                             send credentials and data unencrypted"
                        ),
                    )
                    .with_help("use an https:// endpoint"));
                }
            }
            "http" => {
                return Err(BuildError::at(
                    "endpoint",
                    format!("`{endpoint}` is plain HTTP, which is refused by default"),
                )
                .with_help("use https://, or for a local test server set allow_http = true"));
            }
            other => {
                return Err(BuildError::at(
                    "endpoint",
                    format!("`{endpoint}`: the endpoint must be http(s), not `{other}`"),
                ));
            }
        }
    } else if options.allow_http {
        return Err(
            BuildError::at("allow_http", "`allow_http` needs an `endpoint`")
                .with_help("set endpoint = \"http://127.0.0.1:PORT\" or remove allow_http"),
        );
    }
    if options.region.is_some() && !matches!(location, Location::S3(_)) {
        return Err(BuildError::at(
            "region",
            "`region` applies only to s3:// paths",
        ));
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(endpoint: Option<&str>, allow_http: bool) -> StoreOptions {
        StoreOptions {
            endpoint: endpoint.map(str::to_owned),
            allow_http,
            region: None,
        }
    }

    #[test]
    fn a_store_left_out_of_the_build_is_named_with_the_feature_that_brings_it() {
        let e = missing_backend("gs://b/p", "Google Cloud Storage", "gcs").to_string();
        assert!(
            e.contains("`gs://b/p`: this tributary was built without Google Cloud Storage"),
            "{e}"
        );
        assert!(e.contains("--features cloud") && e.contains("`gcs`"), "{e}");
        // This build has every store (the crate's tests turn `cloud` on).
        for path in ["s3://b/p", "gs://b/p", "az://b/p"] {
            TargetSpec::parse(path, StoreOptions::default()).unwrap();
        }
    }

    #[test]
    fn parses_local_file_and_cloud_locations() {
        let local = TargetSpec::parse("/data/lake/", StoreOptions::default()).unwrap();
        assert!(local.is_local());
        assert_eq!(local.display(), "/data/lake");
        let file = TargetSpec::parse("file:///data/lake", StoreOptions::default()).unwrap();
        assert_eq!(file.location, Location::Local("/data/lake".into()));
        let s3 = TargetSpec::parse("s3://bkt/raw/conversations", StoreOptions::default()).unwrap();
        assert_eq!(s3.base.as_ref(), "raw/conversations");
        assert!(!s3.is_local());
        assert!(TargetSpec::parse("gs://bkt/x", StoreOptions::default()).is_ok());
        assert!(TargetSpec::parse("az://container/x", StoreOptions::default()).is_ok());
    }

    #[test]
    fn rejects_unknown_schemes_and_http_paths() {
        let e = TargetSpec::parse("ftp://host/x", StoreOptions::default()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("path"));
        assert!(e.message.contains("ftp"));
        let e =
            TargetSpec::parse("http://127.0.0.1:9000/bkt", StoreOptions::default()).unwrap_err();
        assert!(e.help.unwrap().contains("endpoint"));
        assert!(TargetSpec::parse("s3:///nobucket", StoreOptions::default()).is_err());
        assert!(TargetSpec::parse("", StoreOptions::default()).is_err());
    }

    #[test]
    fn allow_http_only_for_loopback_endpoints() {
        for ok in [
            "http://127.0.0.1:5000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            TargetSpec::parse("s3://b/p", opts(Some(ok), true)).unwrap();
        }
        let e =
            TargetSpec::parse("s3://b/p", opts(Some("http://10.0.0.5:9000"), true)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("allow_http"));
        assert!(e.message.contains("loopback"));
        let e =
            TargetSpec::parse("s3://b/p", opts(Some("http://127.0.0.1:9000"), false)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("endpoint"));
        assert!(e.help.unwrap().contains("allow_http"));
        TargetSpec::parse("s3://b/p", opts(Some("https://minio.internal"), false)).unwrap();
        let e = TargetSpec::parse("s3://b/p", opts(None, true)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("allow_http"));
        let e = TargetSpec::parse("/tmp/x", opts(Some("https://x"), false)).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("endpoint"));
    }

    #[test]
    fn store_errors_say_the_cause_and_the_fix_without_query_strings() {
        let err = |text: &str| object_store::Error::Generic {
            store: "S3",
            source: text.to_owned().into(),
        };
        let e = describe_store_error(&err(
            "Error performing PUT http://127.0.0.1:9/b/k?sig=SECRET in 1ms - HTTP error: builder error",
        ));
        assert!(
            e.contains("allow_http = true") && e.contains("http://127.0.0.1:9/b/k"),
            "{e}"
        );
        assert!(!e.contains("builder error") && !e.contains("SECRET"), "{e}");
        let e = describe_store_error(&err("... <Code>NoSuchBucket</Code> ..."));
        assert!(e.contains("the bucket does not exist"), "{e}");
        let e = describe_store_error(&err("PUT https://h/b/k - <Code>AccessDenied</Code>"));
        assert!(e.contains("access denied (https://h/b/k)"), "{e}");
        let e = describe_store_error(&err("<Code>AuthorizationHeaderMalformed</Code>"));
        assert!(e.contains("set `region`"), "{e}");
        let e = describe_store_error(&err("GET https://h/c/x?sv=1&sig=SECRET odd failure"));
        assert!(
            e.contains("https://h/c/x odd failure") && !e.contains("SECRET"),
            "{e}"
        );
    }

    #[test]
    fn join_keeps_escaped_segments_verbatim() {
        let base = Path::from("raw/conv");
        assert_eq!(
            join(&base, "p=a%2Fb/part-1.parquet").as_ref(),
            "raw/conv/p=a%2Fb/part-1.parquet"
        );
        assert_eq!(join(&Path::default(), "x/y").as_ref(), "x/y");
    }

    #[tokio::test]
    async fn opens_a_local_directory_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TargetSpec::parse(
            dir.path().join("a/b").to_str().unwrap(),
            StoreOptions::default(),
        )
        .unwrap();
        let target = spec.open().unwrap();
        assert!(dir.path().join("a/b").is_dir());
        assert_eq!(
            target.local_root.as_deref(),
            Some(dir.path().join("a/b").as_path())
        );
    }

    #[tokio::test]
    async fn directories_it_created_go_when_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |p: &str| {
            TargetSpec::parse(
                dir.path().join(p).to_str().unwrap(),
                StoreOptions::default(),
            )
            .unwrap()
        };
        // Nothing written: `a/b` and `a` were created for this target, and both go.
        let target = spec("a/b").open().unwrap();
        let clone = target.clone();
        drop(target);
        assert!(dir.path().join("a/b").is_dir(), "a clone still holds it");
        drop(clone);
        assert!(!dir.path().join("a").exists());
        // Something written: kept.
        let target = spec("c/d").open().unwrap();
        std::fs::write(dir.path().join("c/d/x"), b"1").unwrap();
        drop(target);
        assert!(dir.path().join("c/d/x").is_file());
        // A directory that existed before is never removed, even if empty.
        std::fs::create_dir(dir.path().join("e")).unwrap();
        drop(spec("e/f").open().unwrap());
        assert!(dir.path().join("e").is_dir());
        assert!(!dir.path().join("e/f").exists());
    }
}
