//! `DeltaConfig`: the `[sinks.ID]` table of `type = "delta"`.

use serde::{Deserialize, Serialize};
use tributary_lake::{ByteSize, StoreOptions};

/// Default zstd level (the `parquet` sink's).
pub use sink_parquet::config::DEFAULT_COMPRESSION_LEVEL;
/// Default `target_file_size`: 128 MiB, in the range Delta's OPTIMIZE aims for.
pub const DEFAULT_TARGET_FILE_SIZE: ByteSize = ByteSize(128 << 20);
/// Default `commit_retries`: how often a commit that lost a race to another writer is retried
/// on the newer table version. Appends never truly conflict, so this only bounds contention.
pub const DEFAULT_COMMIT_RETRIES: usize = 100;
/// Default `merge_retries`.
pub const DEFAULT_MERGE_RETRIES: usize = 20;

/// The columns `mode = "merge"` matches rows on.
pub const MERGE_KEY: [&str; 4] = ["page_id", "platform", "folder", "id"];
/// The column whose newest value wins a merge.
pub const MERGE_ORDER: &str = "updated_time";

/// Configuration of the `delta` sink.
///
/// ```toml
/// [sinks.table]
/// type         = "delta"
/// inputs       = ["pages"]
/// path         = "s3://lake/delta/conversations"
/// partition_by = ["platform", "folder"]
/// mode         = "merge"          # or "append" (default)
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
// Unknown keys are refused by the loader against the schema's keys, not by serde's
// `deny_unknown_fields`, which cannot see through the flattened store options.
pub struct DeltaConfig {
    /// Where the table lives: a local directory (`./lake/conversations`), `file:///data/lake`,
    /// or `s3://bucket/prefix` (also S3-compatible stores with `endpoint`). Created on the first
    /// run. Cloud credentials come from the standard environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, ...), never from this file.
    pub path: String,

    /// Partition columns, outermost first: any scalar input column, and `updated_date` (the
    /// UTC date of `updated_time`, added to the table as a `date` column). Only used when the
    /// table is created; an existing table must have the same partition columns. Default: none.
    #[serde(default)]
    pub partition_by: Vec<String>,

    /// `append` (default): every run adds its rows. `merge`: rows replace the table's rows with
    /// the same `(page_id, platform, folder, id)`, keeping whichever has the newest
    /// `updated_time`, so a re-fetched thread updates instead of duplicating. `overwrite`: the
    /// run's rows replace the whole table in one Delta commit (readers see the old table or the
    /// new one, never both; refused with `--shard`, where each shard would erase the others').
    #[serde(default)]
    pub mode: Mode,

    /// Compression codec of the data files: `zstd`, `snappy` or `none`. Default: `zstd`.
    #[serde(default)]
    pub compression: Compression,

    /// zstd level, 1 (fastest) to 22 (smallest). Only with `compression = "zstd"`. Default: 1
    /// (the `parquet` sink's).
    #[serde(default)]
    pub compression_level: Option<i32>,

    /// Start a new data file once one reaches about this size: bytes, or a string such as
    /// `"128MiB"`. Default: `"128MiB"`.
    #[serde(default = "default_target_file_size")]
    pub target_file_size: ByteSize,

    /// How many times a commit that lost the race for a table version to a concurrent writer is
    /// retried on the newer version (appends from other workers never conflict with ours).
    /// Default: 100.
    #[serde(default = "default_commit_retries")]
    pub commit_retries: usize,

    /// `mode = "merge"` only: how many times the merge is redone from the newest table version
    /// when a concurrent writer rewrote or removed a file it was rewriting. Default: 20.
    #[serde(default = "default_merge_retries")]
    pub merge_retries: usize,

    /// The object-store options (`endpoint`, `allow_http`, `region`): one set of keys, checked
    /// alike for every sink and the state (see `tributary plugins`).
    #[serde(flatten)]
    pub store: StoreOptions,
}

/// How rows enter the table.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Add every row (fast, never rewrites a file).
    #[default]
    Append,
    /// Upsert on `(page_id, platform, folder, id)`, the newest `updated_time` wins.
    Merge,
    /// Replace the whole table: one commit removes every file and adds the run's.
    Overwrite,
}

/// Parquet compression codec of the data files: the `parquet` sink's (`zstd`, `snappy`,
/// `none`), with the same `compression_level` check.
pub use sink_parquet::config::Compression;

fn default_target_file_size() -> ByteSize {
    DEFAULT_TARGET_FILE_SIZE
}

fn default_commit_retries() -> usize {
    DEFAULT_COMMIT_RETRIES
}

fn default_merge_retries() -> usize {
    DEFAULT_MERGE_RETRIES
}

/// Parquet writer properties for data files. The level was checked when the sink was built
/// ([`Compression::codec`]); a plan carrying a bad one (edited by hand) gets zstd's default.
pub fn writer_properties(
    compression: Compression,
    level: Option<i32>,
) -> parquet::file::properties::WriterProperties {
    let codec = compression
        .codec(level)
        .unwrap_or(parquet::basic::Compression::ZSTD(Default::default()));
    parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_table_and_applies_defaults() {
        let c: DeltaConfig = toml::from_str(
            r#"
            path = "s3://lake/delta"
            partition_by = ["platform", "updated_date"]
            mode = "merge"
            compression = "snappy"
            target_file_size = "64MiB"
            endpoint = "http://127.0.0.1:9000"
            allow_http = true
            "#,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Merge);
        assert_eq!(c.compression, Compression::Snappy);
        assert_eq!(c.target_file_size, ByteSize(64 << 20));
        let d: DeltaConfig = toml::from_str(r#"path = "./t""#).unwrap();
        assert_eq!(d.mode, Mode::Append);
        assert_eq!(d.compression, Compression::Zstd);
        assert_eq!(d.commit_retries, DEFAULT_COMMIT_RETRIES);
        assert_eq!(d.target_file_size, DEFAULT_TARGET_FILE_SIZE);
    }

    fn load_errors(table: &str) -> String {
        tributary_testkit::sink_table_errors::<crate::Delta>("delta", table)
    }

    #[test]
    fn rejects_unknown_keys_and_modes() {
        let e = load_errors("path = \"x\"\nmerge = true");
        assert!(e.contains("unknown key `merge`"), "{e}");
        let e = toml::from_str::<DeltaConfig>("path = \"x\"\nmode = \"upsert\"").unwrap_err();
        assert!(e.to_string().contains("append"), "{e}");
    }
}
