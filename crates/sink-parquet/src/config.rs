//! `ParquetConfig`: the `[sinks.ID]` table of `type = "parquet"`.

use serde::{Deserialize, Serialize};
use tributary_core::BuildError;
use tributary_lake::{ByteSize, StoreOptions, WriteMode};

/// Default zstd level: 1. Measured on the emulator's conversation data (BENCHMARKS.md, "Parquet
/// encode"): level 1 saved 5-9 % of a run's time and its files came out 0.7-1.1 % smaller than
/// zstd's own default 3 (Parquet compresses each page of about 1 MB on its own, after
/// dictionary encoding). That data is generated and repeats more than real messages; on other
/// text level 3 may be a few percent smaller, at more CPU: set `compression_level = 3`.
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;
/// Default rows per row group. Smaller than parquet-rs' 1 Mi rows because a row group is
/// buffered in memory per open file; 64 Ki conversation rows (with messages) is tens of MB.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;
/// A row group is also closed once its encoded size reaches this, whatever its row count: the
/// memory bound when rows are large.
pub const ROW_GROUP_MAX_BYTES: usize = 64 << 20;
/// Default cap on files open at once (see `max_open_files`).
pub const DEFAULT_MAX_OPEN_FILES: usize = tributary_lake::writer::DEFAULT_MAX_OPEN_FILES;
/// Default `target_file_size`: 256 MiB, the size lake engines read efficiently.
pub const DEFAULT_TARGET_FILE_SIZE: ByteSize = ByteSize(256 << 20);

/// Configuration of the `parquet` sink.
///
/// ```toml
/// [sinks.lake]
/// type         = "parquet"
/// inputs       = ["pages"]
/// path         = "s3://lake/raw/conversations"
/// partition_by = ["platform", "folder", "updated_date"]
/// compression  = "zstd"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
// Unknown keys are refused by the loader against the schema's keys, not by serde's
// `deny_unknown_fields`, which cannot see through the flattened store options.
pub struct ParquetConfig {
    /// Where the table lives: a local directory (`./lake`, `/data/lake`), `file:///data/lake`,
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`. Cloud credentials
    /// come from the provider's standard environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`, ...), never from this file.
    pub path: String,

    /// Hive partition columns, outermost first: any scalar input column, and `updated_date`
    /// (the UTC date of `updated_time`). Partition columns are stored in directory names
    /// (`platform=instagram/`), not inside the files. Default: no partitioning.
    #[serde(default)]
    pub partition_by: Vec<String>,

    /// What a run does to the files this sink committed before: `append` (default: add),
    /// `overwrite` (replace them all, deleted once the new files are committed),
    /// `overwrite_partitions` (replace only the Hive partitions this run wrote) or
    /// `error_if_exists` (fail before writing when `path` holds data). Only files listed in
    /// this pipeline's, sink's and shard's manifests are ever deleted.
    #[serde(default)]
    pub write_mode: WriteMode,

    /// Compression codec: `zstd`, `snappy` or `none`. Default: `zstd`.
    #[serde(default)]
    pub compression: Compression,

    /// zstd level, 1 (fastest) to 22 (smallest). Only with `compression = "zstd"`. Default: 1
    /// (on the emulator's data as small as 3, and faster; real text may favour 3 slightly).
    #[serde(default)]
    pub compression_level: Option<i32>,

    /// Rows per row group (the unit readers skip with statistics; buffered in memory per open
    /// file). Default: 65536.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,

    /// Start a new file after this many rows. Default: no limit (files rotate by size).
    #[serde(default)]
    pub max_rows_per_file: Option<u64>,

    /// Start a new file once a file reaches about this size: bytes, or a string such as
    /// `"128MiB"`/`"500MB"`. Default: `"256MiB"`.
    #[serde(default = "default_target_file_size")]
    pub target_file_size: ByteSize,

    /// At most this many files are open at once (one per partition being written); the least
    /// recently written is closed to make room. Bounds memory to about `max_open_files` row
    /// groups. Default: 16.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,

    /// The object-store options (`endpoint`, `allow_http`, `region`): one set of keys, checked
    /// alike for every sink and the state (see `tributary plugins`).
    #[serde(flatten)]
    pub store: StoreOptions,
}

/// Parquet compression codec.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Zstandard (default): the best ratio for its speed; read by every current engine.
    #[default]
    Zstd,
    /// Snappy: fastest, larger files; for old readers.
    Snappy,
    /// No compression.
    None,
}

impl Compression {
    /// The Parquet codec, with `level` for zstd: the one check of `compression_level` for every
    /// sink that writes Parquet (`parquet`, `delta`).
    pub fn codec(self, level: Option<i32>) -> Result<parquet::basic::Compression, BuildError> {
        use parquet::basic::{Compression as Codec, ZstdLevel};
        match (self, level) {
            (Compression::Zstd, level) => {
                let level = level.unwrap_or(DEFAULT_COMPRESSION_LEVEL);
                Ok(Codec::ZSTD(ZstdLevel::try_new(level).map_err(|_| {
                    BuildError::at(
                        "compression_level",
                        format!("zstd level {level} is out of range"),
                    )
                    .with_help("use 1 (fastest, the default) to 22 (smallest)")
                })?))
            }
            (_, Some(_)) => Err(BuildError::at(
                "compression_level",
                "`compression_level` applies only to `compression = \"zstd\"`",
            )),
            (Compression::Snappy, None) => Ok(Codec::SNAPPY),
            (Compression::None, None) => Ok(Codec::UNCOMPRESSED),
        }
    }

    /// The codec's part of file names: `part-<run>-00000.<codec>.parquet`.
    pub fn file_tag(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::None => "uncompressed",
        }
    }
}

fn default_row_group_rows() -> usize {
    DEFAULT_ROW_GROUP_ROWS
}

fn default_target_file_size() -> ByteSize {
    DEFAULT_TARGET_FILE_SIZE
}

fn default_max_open_files() -> usize {
    DEFAULT_MAX_OPEN_FILES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_table_and_applies_defaults() {
        let c: ParquetConfig = toml::from_str(
            r#"
            path = "s3://lake/raw"
            partition_by = ["platform", "updated_date"]
            compression = "snappy"
            target_file_size = "128MiB"
            endpoint = "http://127.0.0.1:9000"
            allow_http = true
            "#,
        )
        .unwrap();
        assert_eq!(c.compression, Compression::Snappy);
        assert_eq!(c.target_file_size, ByteSize(128 << 20));
        assert_eq!(c.row_group_rows, DEFAULT_ROW_GROUP_ROWS);
        assert_eq!(c.max_open_files, DEFAULT_MAX_OPEN_FILES);
        // The store options are flattened into the sink's table.
        assert_eq!(c.store.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.store.allow_http);
        let d: ParquetConfig = toml::from_str(r#"path = "./lake""#).unwrap();
        assert_eq!(d.compression, Compression::Zstd);
        assert!(d.partition_by.is_empty());
        assert_eq!(d.target_file_size, DEFAULT_TARGET_FILE_SIZE);
        assert!(!d.store.allow_http);
    }

    fn load_errors(table: &str) -> String {
        tributary_testkit::sink_table_errors::<crate::Parquet>("parquet", table)
    }

    #[test]
    fn rejects_unknown_keys_and_codecs() {
        let e = load_errors("path = \"x\"\npartition = [\"a\"]");
        assert!(e.contains("unknown key `partition`"), "{e}");
        assert!(
            e.contains("partition_by"),
            "the nearest key is suggested: {e}"
        );
        // The shared store options are keys of the sink like any other.
        let e = load_errors("path = \"x\"\nendpont = \"https://minio\"");
        assert!(
            e.contains("unknown key `endpont`") && e.contains("endpoint"),
            "{e}"
        );
        let e = toml::from_str::<ParquetConfig>("path = \"x\"\ncompression = \"lz4\"").unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        assert!(
            toml::from_str::<ParquetConfig>("partition_by = []").is_err(),
            "path is required"
        );
    }
}
