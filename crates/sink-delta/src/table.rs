//! Where the table is and how to reach it: the `path` key as a URL, the store options delta-rs
//! takes, and opening (or creating) the table.

use std::collections::HashMap;

use arrow::datatypes::Schema;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde::{Deserialize, Serialize};
use tributary_core::{BuildError, RunError};
use tributary_lake::{StoreOptions, TargetSpec};
use url::Url;

/// A validated table location. Serializable: it is part of a commit plan (no secrets in it:
/// credentials come from the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLocation {
    /// `file:///abs/dir/` or `s3://bucket/prefix`.
    pub url: String,
    /// Endpoint, plain-HTTP permission and region for S3.
    pub options: StoreOptions,
}

impl TableLocation {
    /// Parses and validates the `path`, `endpoint`, `allow_http` and `region` keys. Pure, except
    /// that a relative local path is made absolute against the working directory (a plan must
    /// still point at the same table when a later run rolls it forward).
    pub fn parse(path: &str, options: StoreOptions) -> Result<Self, BuildError> {
        // The lake layer's parser gives the same messages as the file sinks for bad URLs and
        // the loopback-only plain-HTTP rule.
        let spec = TargetSpec::parse(path, options.clone())?;
        let url = if spec.is_local() {
            let dir = match path.strip_prefix("file://") {
                Some(_) => Url::parse(path)
                    .ok()
                    .and_then(|u| u.to_file_path().ok())
                    .ok_or_else(|| BuildError::at("path", format!("`{path}` is not a file URL")))?,
                None => std::path::PathBuf::from(path),
            };
            let dir = std::path::absolute(&dir)
                .map_err(|e| BuildError::at("path", format!("cannot resolve `{path}`: {e}")))?;
            Url::from_directory_path(&dir).map_err(|()| {
                BuildError::at(
                    "path",
                    format!("`{}` is not a usable directory", dir.display()),
                )
            })?
        } else {
            let mut url = Url::parse(path)
                .map_err(|e| BuildError::at("path", format!("`{path}` is not a URL: {e}")))?;
            match url.scheme() {
                "s3" => {}
                "s3a" => {
                    let _ = url.set_scheme("s3");
                }
                other => {
                    return Err(BuildError::at(
                        "path",
                        format!("the delta sink cannot write to `{other}://` in this build"),
                    )
                    .with_help(
                        "use a local directory or s3:// (S3 and S3-compatible stores); the \
                         parquet sink also writes to gs:// and az://",
                    ));
                }
            }
            url
        };
        Ok(Self {
            url: url.to_string(),
            options,
        })
    }

    /// What to call the table in messages and reports: the directory or the URL.
    pub fn display(&self) -> String {
        match Url::parse(&self.url) {
            Ok(u) if u.scheme() == "file" => u
                .to_file_path()
                .map(|p| p.display().to_string().trim_end_matches('/').to_owned())
                .unwrap_or_else(|()| self.url.clone()),
            _ => self.url.trim_end_matches('/').to_owned(),
        }
    }

    fn storage_options(&self) -> HashMap<String, String> {
        let mut o = HashMap::new();
        if let Some(endpoint) = &self.options.endpoint {
            o.insert("AWS_ENDPOINT_URL".into(), endpoint.clone());
        }
        if self.options.allow_http {
            o.insert("AWS_ALLOW_HTTP".into(), "true".into());
        }
        if let Some(region) = &self.options.region {
            o.insert("AWS_REGION".into(), region.clone());
        }
        o
    }

    fn builder(&self) -> Result<DeltaTableBuilder, RunError> {
        let url = Url::parse(&self.url)
            .map_err(|e| RunError::msg(format!("bad table URL {}: {e}", self.url)))?;
        if let Ok(dir) = url.to_file_path() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                RunError::msg(format!(
                    "cannot create the table directory {}: {e} (check the path and its \
                     permissions)",
                    dir.display()
                ))
            })?;
        }
        Ok(DeltaTableBuilder::from_url(url)
            .map_err(|e| self.error("cannot open", e))?
            .with_storage_options(self.storage_options()))
    }

    /// Loads the table's newest version; `None` when there is no table there yet.
    pub async fn load(&self) -> Result<Option<DeltaTable>, RunError> {
        match self.builder()?.load().await {
            Ok(table) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.error("cannot read", e)),
        }
    }

    /// Loads the table, creating it with `schema` and `partition_by` if there is none. Several
    /// workers may race to create it: the losers load the winner's table.
    pub async fn load_or_create(
        &self,
        schema: &Schema,
        partition_by: &[String],
        name: &str,
    ) -> Result<DeltaTable, RunError> {
        if let Some(table) = self.load().await? {
            return Ok(table);
        }
        let columns: StructType = schema.try_into_kernel().map_err(|e| {
            RunError::msg(format!(
                "the pipeline's schema cannot be stored in a Delta table: {e}"
            ))
        })?;
        let table = self
            .builder()?
            .build()
            .map_err(|e| self.error("cannot open", e))?;
        let created = table
            .create()
            .with_table_name(name)
            .with_columns(columns.fields().cloned())
            .with_partition_columns(partition_by.to_vec())
            .with_save_mode(SaveMode::Ignore)
            // Only version 0 may create the table: a create that lost the race must not be
            // retried as version 1 (that would replace the winner's metadata under its writers).
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await;
        match created {
            Ok(table) => {
                tracing::info!(table = %self.display(), "created the Delta table");
                Ok(table)
            }
            // Another worker created it first.
            Err(e) => match self.load().await? {
                Some(table) => Ok(table),
                None => Err(self.error("cannot create", e)),
            },
        }
    }

    /// A runtime error about this table with what to check next.
    pub fn error(&self, what: &str, e: DeltaTableError) -> RunError {
        let hint = if self.url.starts_with("s3://") {
            "check the bucket, AWS credentials in the environment and `endpoint`"
        } else {
            "check the path and its permissions"
        };
        RunError::msg(format!(
            "{what} the Delta table {}: {e} ({hint})",
            self.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_absolute_directory_urls() {
        let l = TableLocation::parse("rel/table", StoreOptions::default()).unwrap();
        assert!(l.url.starts_with("file:///"), "{}", l.url);
        assert!(l.url.ends_with("/rel/table/"), "{}", l.url);
        assert!(l.display().ends_with("/rel/table"), "{}", l.display());
        let f = TableLocation::parse("file:///data/t", StoreOptions::default()).unwrap();
        assert_eq!(f.url, "file:///data/t/");
    }

    #[test]
    fn s3_is_accepted_and_other_clouds_are_refused_with_help() {
        let s = TableLocation::parse("s3a://bkt/delta/t", StoreOptions::default()).unwrap();
        assert_eq!(s.url, "s3://bkt/delta/t");
        let e = TableLocation::parse("gs://bkt/t", StoreOptions::default()).unwrap_err();
        assert!(e.message.contains("gs://"), "{}", e.message);
        let plain = StoreOptions {
            endpoint: Some("http://minio.example.com:9000".into()),
            allow_http: true,
            region: None,
        };
        assert!(
            TableLocation::parse("s3://bkt/t", plain).is_err(),
            "plain HTTP only to loopback"
        );
    }
}
