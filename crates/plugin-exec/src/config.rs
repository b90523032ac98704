//! [`ExecTransformConfig`] and [`ExecSinkConfig`]: the command to run, its environment, its
//! timeout and (for the transform) the schema it emits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;
use tributary_core::BuildError;
use tributary_core::config::did_you_mean;
use tributary_core::plugin::BuildContext;

/// Default of `timeout_secs`: how long the child may go without making progress.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// Default of `inherit_env`: what a program needs to start and to read text, never a secret.
pub const DEFAULT_INHERIT_ENV: [&str; 7] =
    ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"];

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

/// Default of `batch_rows`: rows put together into one batch for the child. Enough to make the
/// per-batch cost small (10 page batches of 100 rows in one), small enough that a child doing a
/// remote call per row still reports progress well within `timeout_secs`.
pub const DEFAULT_BATCH_ROWS: usize = 1024;

fn default_batch_rows() -> usize {
    DEFAULT_BATCH_ROWS
}

fn default_inherit_env() -> Vec<String> {
    DEFAULT_INHERIT_ENV
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Configuration of an `exec` transform (`[transforms.ID]` with `type = "exec"`): a program in
/// any language that reads the input batches as one Arrow IPC stream on standard input and
/// writes its output batches as one Arrow IPC stream on standard output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecTransformConfig {
    /// The program and its arguments, e.g. `["python3", "score.py"]`. Started once per run, in
    /// the pipeline file's folder (or `cwd`). Never put a secret here: pass it through `env`.
    pub command: Vec<String>,

    /// Environment variables for the child, e.g. `{ API_KEY = "${SCORE_API_KEY}" }`. Values may
    /// use `${VAR}`; they are never logged, and are masked in the child's logged output.
    #[serde(default)]
    pub env: BTreeMap<String, String>,

    /// Variables of tributary's own environment the child also gets (default: `PATH`, `HOME`,
    /// `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ`, `TMPDIR`). Nothing else is inherited.
    #[serde(default = "default_inherit_env")]
    pub inherit_env: Vec<String>,

    /// Working directory of the child, relative to the pipeline file's folder. Default: that
    /// folder.
    #[serde(default)]
    pub cwd: Option<String>,

    /// Seconds the child may go without progress (reading input, writing output, exiting at the
    /// end) before it is killed and the run fails. Default: 60. The child works a batch of up
    /// to `batch_rows` rows at a time: a slow step (a remote call per row) needs a larger
    /// timeout or a smaller `batch_rows`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,

    /// The schema of the child's output: `"same"` (the input's, the default),
    /// `{ add = [{ name = "lang", type = "utf8" }], drop = ["snippet"] }`, or the full list of
    /// fields `[{ name = "id", type = "utf8", nullable = false }, ...]`.
    #[serde(default)]
    pub output: OutputSpec,

    /// The input columns the child reads, e.g. `["snippet"]` (default: every column, and the
    /// child streams whole rows). When set, the child gets only these columns and **answers row
    /// for row**: for each batch it reads, one batch of as many rows holding the `output.add`
    /// columns, optionally followed by a boolean column `keep` (rows where it is false or null
    /// are dropped); tributary puts the rest of each row back. Only the named columns cross the
    /// pipes: a step that reads the snippet of threads that carry their messages copies a few
    /// bytes a row instead of kilobytes. Needs `output = "same"` or `{ add, drop }`.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Rows sent to the child per batch (default 1,024). The sources emit one small batch per
    /// API page; they are put together first, since a child pays for every batch it reads (a
    /// turn of its loop, a few reads and writes). A batch also goes once its input rows take
    /// 8 MiB in memory (whole rows, even with `columns`), and at the end of the input. `1`
    /// sends each batch as it comes.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

/// Configuration of an `exec` sink (`[sinks.ID]` with `type = "exec"`): a program in any language
/// that reads the batches as one Arrow IPC stream on standard input; its exit status 0 after the
/// end of the stream is the commit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSinkConfig {
    /// The program and its arguments, e.g. `["python3", "push.py"]`. Started once per run, in the
    /// pipeline file's folder (or `cwd`). Never put a secret here: pass it through `env`.
    pub command: Vec<String>,

    /// Environment variables for the child, e.g. `{ API_TOKEN = "${PUSH_TOKEN}" }`. Values may
    /// use `${VAR}`; they are never logged, and are masked in the child's logged output.
    #[serde(default)]
    pub env: BTreeMap<String, String>,

    /// Variables of tributary's own environment the child also gets (default: `PATH`, `HOME`,
    /// `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ`, `TMPDIR`). Nothing else is inherited.
    #[serde(default = "default_inherit_env")]
    pub inherit_env: Vec<String>,

    /// Working directory of the child, relative to the pipeline file's folder. Default: that
    /// folder.
    #[serde(default)]
    pub cwd: Option<String>,

    /// Seconds the child may go without progress (reading input, exiting after the end of the
    /// stream) before it is killed and the run fails. Default: 60.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,

    /// The input columns the child gets, in this order, e.g. `["id", "lang"]` (default: every
    /// column, in the input's order). Only these cross the pipe.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Rows sent to the child per batch (default 1,024). The sources emit one small batch per
    /// API page; they are put together first, since a child pays for every batch it reads (a
    /// turn of its loop, a few reads and writes). A batch also goes once its input rows take
    /// 8 MiB in memory (whole rows, even with `columns`), and at the end of the input. `1`
    /// sends each batch as it comes.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

/// The declared schema of an `exec` transform's output (`output = ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq, schemars::JsonSchema)]
#[schemars(untagged)]
pub enum OutputSpec {
    /// `"same"`: the input's schema, unchanged (the child may drop rows, not columns).
    #[default]
    Same,
    /// `{ add = [...], drop = [...] }`: the input's columns minus `drop`, then `add` at the end.
    Changes(Changes),
    /// `[{ name = ..., type = ... }, ...]`: exactly these columns, in this order.
    Fields(Vec<FieldSpec>),
}

/// Columns an `exec` transform adds to and removes from its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Columns the child appends after the input's (in this order).
    #[serde(default)]
    pub add: Vec<FieldSpec>,
    /// Input columns the child leaves out.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// One declared output column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The column's name.
    pub name: String,
    /// Its Arrow type: `utf8` (`string`), `large_utf8`, `bool`, `int8`..`int64`,
    /// `uint8`..`uint64`, `float32`, `float64` (`double`), `date32`, `timestamp_ms_utc`,
    /// `timestamp_us_utc`, `binary`, or any type in Arrow's own notation (`List(Int64)`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may hold nulls. Default: true.
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

/// `output = "same"`, the only string `output` accepts.
#[derive(Deserialize)]
enum Keyword {
    #[serde(rename = "same")]
    Same,
}

// By hand rather than `#[serde(untagged)]`: an untagged enum reports every mistake as "did not
// match any variant"; dispatching on the TOML shape keeps serde's precise message (an unknown
// key inside `add`, a wrong type) and its location.
impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = OutputSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#""same", a table { add = [...], drop = [...] } or a list of fields"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OutputSpec, E> {
                Keyword::deserialize(serde::de::value::StrDeserializer::<E>::new(v))
                    .map(|Keyword::Same| OutputSpec::Same)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<OutputSpec, A::Error> {
                Vec::<FieldSpec>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(OutputSpec::Fields)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<OutputSpec, A::Error> {
                Changes::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(OutputSpec::Changes)
            }
        }
        d.deserialize_any(Shape)
    }
}

/// How to start the child: what both plugins resolve their config into at build time.
#[derive(Clone)]
pub struct ProcessSpec {
    /// Program and arguments.
    pub command: Vec<String>,
    /// The child's whole environment, apart from the `TRIBUTARY_*` variables added at start.
    pub env: BTreeMap<String, String>,
    /// Values to mask in anything the child prints (the `env` table's values).
    pub secrets: Arc<Vec<String>>,
    /// Working directory (absolute, or relative to tributary's own).
    pub cwd: PathBuf,
    /// Longest wait for progress.
    pub timeout: Duration,
}

impl std::fmt::Debug for ProcessSpec {
    // The environment may hold secrets: only its names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSpec")
            .field("command", &self.command)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ProcessSpec {
    /// `python3 score.py` (program and first argument): how messages name the child.
    pub fn label(&self) -> String {
        self.command
            .iter()
            .take(2)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Validates and resolves the settings both plugins share. `inherited` reads tributary's
    /// own environment (no I/O: the variables are only read).
    pub fn resolve(
        command: &[String],
        env: &BTreeMap<String, String>,
        inherit_env: &[String],
        cwd: Option<&str>,
        timeout_secs: u64,
        ctx: &BuildContext,
        inherited: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        if command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(BuildError::at("command", "`command` names no program").with_help(
                r#"write the program and its arguments, e.g. command = ["python3", "score.py"]"#,
            ));
        }
        if timeout_secs == 0 {
            return Err(BuildError::at("timeout_secs", "`timeout_secs = 0` would kill the child at once")
                .with_help(format!("give the seconds the child may go without progress (default {DEFAULT_TIMEOUT_SECS})")));
        }
        for name in env.keys() {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(BuildError::at(
                    format!("env.{name}"),
                    format!("`{name}` is not a valid environment variable name"),
                )
                .with_help("use letters, digits and `_`, e.g. API_KEY"));
            }
            if name.starts_with("TRIBUTARY_") {
                return Err(BuildError::at(
                    format!("env.{name}"),
                    format!("`{name}` is set by tributary itself"),
                )
                .with_help(
                    "rename it: the TRIBUTARY_ prefix is reserved (see the exec protocol)",
                ));
            }
        }
        // Arguments are visible to every user of the machine (`ps`): refuse one that repeats a
        // value of `env`, the place secrets go.
        for (name, value) in env {
            if value.len() >= 8 && command.iter().any(|arg| arg.contains(value.as_str())) {
                return Err(BuildError::at(
                    "command",
                    format!("`command` contains the value of env `{name}`"),
                )
                .with_help(format!("command lines are visible to every process on the machine: read `{name}` from the environment in the child instead")));
            }
        }
        let mut all = BTreeMap::new();
        for name in inherit_env {
            if let Some(value) = inherited(name) {
                all.insert(name.clone(), value);
            }
        }
        all.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let cwd = match cwd {
            Some(dir) => ctx.dir.join(dir),
            None => ctx.dir.clone(),
        };
        Ok(Self {
            command: command.to_vec(),
            env: all,
            secrets: Arc::new(env.values().filter(|v| v.len() >= 4).cloned().collect()),
            cwd,
            timeout: Duration::from_secs(timeout_secs),
        })
    }
}

/// The output schema `spec` declares for `input`; errors name the key at fault.
pub fn output_schema(spec: &OutputSpec, input: &SchemaRef) -> Result<SchemaRef, BuildError> {
    match spec {
        OutputSpec::Same => Ok(input.clone()),
        OutputSpec::Fields(fields) => {
            if fields.is_empty() {
                return Err(BuildError::at("output", "`output` lists no field").with_help(
                    r#"list the child's columns, or write output = "same" if it keeps the input's"#,
                ));
            }
            let built = fields
                .iter()
                .map(|f| field(f, "output"))
                .collect::<Result<Vec<_>, _>>()?;
            unique(&built, "output")?;
            Ok(Arc::new(Schema::new(built)))
        }
        OutputSpec::Changes(changes) => {
            let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
            for name in &changes.drop {
                if !names.contains(&name.as_str()) {
                    let help = did_you_mean(name, names.iter().copied())
                        .unwrap_or_else(|| format!("input columns: `{}`", names.join("`, `")));
                    return Err(BuildError::at(
                        "output.drop",
                        format!("the input has no column `{name}` to drop"),
                    )
                    .with_help(help));
                }
            }
            let mut fields: Vec<Field> = input
                .fields()
                .iter()
                .filter(|f| !changes.drop.contains(f.name()))
                .map(|f| f.as_ref().clone())
                .collect();
            for spec in &changes.add {
                fields.push(field(spec, "output.add")?);
            }
            unique(&fields, "output.add")?;
            Ok(Arc::new(Schema::new_with_metadata(
                fields,
                input.metadata().clone(),
            )))
        }
    }
}

/// `batch_rows`, checked.
pub fn batch_rows(rows: usize) -> Result<usize, BuildError> {
    if rows == 0 {
        return Err(BuildError::at("batch_rows", "`batch_rows = 0` would never send a batch")
            .with_help(format!("give the rows per batch for the child (default {DEFAULT_BATCH_ROWS}), or 1 to send each batch as it comes")));
    }
    Ok(rows)
}

/// The indices in `input` of the `columns` a child reads, in the order given; errors name the
/// column and suggest the nearest input column.
pub fn projection(columns: &[String], input: &Schema) -> Result<Vec<usize>, BuildError> {
    let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
    if columns.is_empty() {
        return Err(
            BuildError::at("columns", "`columns` lists no column").with_help(format!(
                "name the columns the child reads (input columns: `{}`), or leave `columns` out to send whole rows",
                names.join("`, `")
            )),
        );
    }
    let mut indices = Vec::with_capacity(columns.len());
    for (i, name) in columns.iter().enumerate() {
        let Some(index) = names.iter().position(|n| n == name) else {
            let help = did_you_mean(name, names.iter().copied())
                .unwrap_or_else(|| format!("input columns: `{}`", names.join("`, `")));
            return Err(
                BuildError::at("columns", format!("the input has no column `{name}`"))
                    .with_help(help),
            );
        };
        if columns[..i].contains(name) {
            return Err(
                BuildError::at("columns", format!("column `{name}` is listed twice"))
                    .with_help("list each column the child reads once"),
            );
        }
        indices.push(index);
    }
    Ok(indices)
}

/// The input columns a row-for-row transform (`columns`) puts back in its output: all but
/// `output.drop`, in the input's order (a dropped column added again comes from the answer).
pub fn kept_columns(spec: &OutputSpec, input: &Schema) -> Vec<usize> {
    let dropped: &[String] = match spec {
        OutputSpec::Changes(changes) => &changes.drop,
        OutputSpec::Same | OutputSpec::Fields(_) => &[],
    };
    input
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !dropped.contains(f.name()))
        .map(|(i, _)| i)
        .collect()
}

/// The name of the optional boolean column of a row-for-row answer (`columns`): which rows stay.
pub const KEEP: &str = "keep";

/// What a child that reads only `columns` answers for each batch: the added columns (see
/// [`ExecTransformConfig::columns`]). Refuses an `output` it cannot answer.
pub fn answer_schema(spec: &OutputSpec) -> Result<SchemaRef, BuildError> {
    let add: &[FieldSpec] = match spec {
        OutputSpec::Same => &[],
        OutputSpec::Changes(changes) => &changes.add,
        OutputSpec::Fields(_) => {
            return Err(BuildError::at(
                "columns",
                "`columns` needs `output = \"same\"` or `output = { add = [...], drop = [...] }`, not a full field list",
            )
            .with_help("a child that reads only some columns answers the columns it adds; tributary keeps the others (drop what you do not want with `output.drop`)"));
        }
    };
    let fields = add
        .iter()
        .map(|f| field(f, "output.add"))
        .collect::<Result<Vec<_>, _>>()?;
    if fields.iter().any(|f| f.name() == KEEP) {
        return Err(BuildError::at(
            "output.add",
            format!("with `columns`, `{KEEP}` is the answer's row filter, not a column to add"),
        )
        .with_help(format!(
            "name the added column otherwise, or send `{KEEP}` (bool) to drop rows"
        )));
    }
    Ok(Arc::new(Schema::new(fields)))
}

fn unique(fields: &[Field], key: &str) -> Result<(), BuildError> {
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].iter().any(|g| g.name() == f.name()) {
            return Err(BuildError::at(key, format!("column `{}` is declared twice", f.name()))
                .with_help("each output column needs its own name; to replace an input column, `drop` it and `add` it again"));
        }
    }
    Ok(())
}

fn field(spec: &FieldSpec, key: &str) -> Result<Field, BuildError> {
    if spec.name.is_empty() {
        return Err(BuildError::at(key, "a declared column has an empty `name`"));
    }
    let data_type = parse_type(&spec.data_type).map_err(|e| {
        BuildError::at(
            key,
            format!(
                "column `{}`: unknown type `{}` ({e})",
                spec.name, spec.data_type
            ),
        )
        .with_help(format!(
            "use one of `{}`, or Arrow's notation such as `List(Int64)`",
            TYPE_NAMES.join("`, `")
        ))
    })?;
    Ok(Field::new(&spec.name, data_type, spec.nullable))
}

/// The short type names `type` accepts (besides Arrow's own notation).
pub const TYPE_NAMES: [&str; 20] = [
    "utf8",
    "string",
    "large_utf8",
    "bool",
    "boolean",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "double",
    "date32",
    "timestamp_ms_utc",
    "timestamp_us_utc",
    "binary",
];

/// Parses a declared type: a short name (pyarrow's spelling where it has one) or Arrow's
/// `DataType` notation.
pub fn parse_type(name: &str) -> Result<DataType, String> {
    let utc = || Some(Arc::from("UTC"));
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "utf8" | "string" | "str" => DataType::Utf8,
        "large_utf8" | "large_string" => DataType::LargeUtf8,
        "bool" | "boolean" => DataType::Boolean,
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" | "float" => DataType::Float32,
        "float64" | "double" => DataType::Float64,
        "date32" => DataType::Date32,
        "timestamp_ms_utc" => DataType::Timestamp(TimeUnit::Millisecond, utc()),
        "timestamp_us_utc" => DataType::Timestamp(TimeUnit::Microsecond, utc()),
        "binary" => DataType::Binary,
        _ => name.trim().parse::<DataType>().map_err(|e| e.to_string())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(text: &str) -> Result<ExecTransformConfig, toml::de::Error> {
        toml::from_str(text)
    }

    fn input() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("snippet", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn defaults_to_the_input_schema_and_a_minute_of_patience() {
        let c = transform(r#"command = ["python3", "score.py"]"#).unwrap();
        assert_eq!(c.output, OutputSpec::Same);
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert_eq!(c.inherit_env, default_inherit_env());
        assert_eq!(output_schema(&c.output, &input()).unwrap(), input());
    }

    #[test]
    fn an_unknown_key_is_rejected() {
        let e = transform("command = [\"x\"]\ncomand = []").unwrap_err();
        assert!(e.message().contains("unknown field `comand`"), "{e}");
    }

    #[test]
    fn add_and_drop_append_after_the_kept_input_columns() {
        let c = transform(
            r#"command = ["x"]
output = { add = [{ name = "lang", type = "string" }, { name = "score", type = "float64", nullable = false }], drop = ["snippet"] }"#,
        )
        .unwrap();
        let schema = output_schema(&c.output, &input()).unwrap();
        let got: Vec<(String, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("id".into(), DataType::Utf8, false),
                ("lang".into(), DataType::Utf8, true),
                ("score".into(), DataType::Float64, false),
            ]
        );
    }

    #[test]
    fn a_full_field_list_is_the_schema() {
        let c = transform(
            r#"command = ["x"]
output = [{ name = "n", type = "int64" }, { name = "at", type = "Timestamp(ms, \"UTC\")" }]"#,
        )
        .unwrap();
        let schema = output_schema(&c.output, &input()).unwrap();
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
    }

    #[test]
    fn a_wrong_output_keyword_or_key_is_reported_precisely() {
        let e = transform("command = [\"x\"]\noutput = \"sam\"").unwrap_err();
        assert!(e.message().contains("unknown variant `sam`"), "{e}");
        let e = transform("command = [\"x\"]\noutput = { ad = [] }").unwrap_err();
        assert!(e.message().contains("unknown field `ad`"), "{e}");
    }

    #[test]
    fn dropping_a_missing_column_suggests_the_nearest() {
        let c = transform("command = [\"x\"]\noutput = { drop = [\"snipet\"] }").unwrap();
        let e = output_schema(&c.output, &input()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("output.drop"));
        assert!(e.help.unwrap().contains("snippet"));
    }

    #[test]
    fn adding_an_existing_column_or_an_unknown_type_is_refused() {
        let c =
            transform("command = [\"x\"]\noutput = { add = [{ name = \"id\", type = \"utf8\" }] }")
                .unwrap();
        let e = output_schema(&c.output, &input()).unwrap_err();
        assert!(e.message.contains("`id` is declared twice"), "{e}");
        let c =
            transform("command = [\"x\"]\noutput = { add = [{ name = \"s\", type = \"strng\" }] }")
                .unwrap();
        let e = output_schema(&c.output, &input()).unwrap_err();
        assert!(e.message.contains("unknown type `strng`"), "{e}");
    }

    #[test]
    fn row_for_row_keeps_what_is_not_dropped_and_answers_what_is_added() {
        // `snippet` replaced: the input's is dropped, the answer's takes its place at the end.
        let c = transform(
            r#"command = ["x"]
columns = ["snippet"]
output = { drop = ["snippet"], add = [{ name = "snippet", type = "utf8" }] }"#,
        )
        .unwrap();
        assert_eq!(kept_columns(&c.output, &input()), vec![0]);
        let answer = answer_schema(&c.output).unwrap();
        assert_eq!(answer.fields().len(), 1);
        let output = output_schema(&c.output, &input()).unwrap();
        assert_eq!(
            output.fields().len(),
            kept_columns(&c.output, &input()).len() + answer.fields().len()
        );
        assert_eq!(projection(&["snippet".into()], &input()).unwrap(), vec![1]);
        let e = projection(&[], &input()).unwrap_err();
        assert!(e.message.contains("lists no column"), "{e}");
        let e = projection(&["id".into(), "id".into()], &input()).unwrap_err();
        assert!(e.message.contains("listed twice"), "{e}");
        assert_eq!(
            batch_rows(0).unwrap_err().key.as_deref(),
            Some("batch_rows")
        );
    }

    #[test]
    fn the_child_inherits_only_the_named_variables_and_no_secret_on_its_command_line() {
        let ctx = BuildContext::transform("p", "t").with_dir("/pipelines");
        let env = BTreeMap::from([("API_KEY".to_owned(), "s3cr3t-value".to_owned())]);
        let inherited = |name: &str| match name {
            "PATH" => Some("/usr/bin".to_owned()),
            "FB_PAGE_TOKEN" => Some("leak".to_owned()),
            _ => None,
        };
        let spec = ProcessSpec::resolve(
            &["python3".into(), "x.py".into()],
            &env,
            &default_inherit_env(),
            Some("scripts"),
            5,
            &ctx,
            &inherited,
        )
        .unwrap();
        assert_eq!(spec.env.keys().collect::<Vec<_>>(), ["API_KEY", "PATH"]);
        assert_eq!(spec.cwd, PathBuf::from("/pipelines/scripts"));
        assert!(!format!("{spec:?}").contains("s3cr3t"));
        let e = ProcessSpec::resolve(
            &["python3".into(), "--key=s3cr3t-value".into()],
            &env,
            &[],
            None,
            5,
            &ctx,
            &inherited,
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("command"));
        assert!(!e.to_string().contains("s3cr3t"));
    }
}
