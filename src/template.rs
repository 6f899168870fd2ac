//! Templates: `templates/NAME/template.html` (minijinja, autoescaped), its assets, its
//! print settings (`template.json`) and its sample data (`fixtures/*.json`).
//!
//! A template plus JSON data becomes a [`Document`]; the template's folder is the
//! document's asset root, so `<link href="style.css">` and `<img src="logo.svg">` work.
//!
//! `template.json` is also the template's contract with its clients: the JSON Schema its data
//! must match (checked before rendering, every problem listed with its JSON pointer: a
//! [`DataProblem`]), an example (one of its fixtures), and how its pages are compared with
//! their baselines (`limits` over the run's, `masks`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::compare::mask::Mask;
use crate::compare::verdict::Limits;
use crate::document::{Assets, Document, Origin, PrintOptions};

/// Why a template could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {name:?}; known templates: {known}")]
    Unknown { name: String, known: String },
    #[error("templates directory {0} does not exist")]
    NoDir(PathBuf),
    #[error("template name {0:?} is not allowed (letters, digits, '-' and '_' only)")]
    BadName(String),
    #[error("could not read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path} is not valid: {detail}")]
    Config { path: PathBuf, detail: String },
    #[error("template {template} failed to render with this data: {detail}")]
    Render { template: String, detail: String },
    #[error("{}", data_message(.template, .problems))]
    Data { template: String, problems: Vec<DataProblem> },
}

/// One way a job's data fails its template's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DataProblem {
    /// A JSON pointer (RFC 6901) into `data` to the key that is missing or wrong (`""` is
    /// `data` itself): `/customer/name`, `/lines/0/quantity`.
    pub pointer: String,
    /// What is wrong there: `missing required key`, `expected integer, got string "3"`.
    pub message: String,
}

fn data_message(template: &str, problems: &[DataProblem]) -> String {
    let listed: Vec<String> =
        problems.iter().map(|p| format!("{}: {}", shown_pointer(&p.pointer), p.message)).collect();
    format!(
        "\"data\" does not match template {template}'s schema ({} {}): {}. GET /v1/templates/{template} shows \
         the schema and an example",
        problems.len(),
        if problems.len() == 1 { "problem" } else { "problems" },
        listed.join("; ")
    )
}

fn shown_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(data)"
    } else {
        pointer
    }
}

/// `template.json`: how a template prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateConfig {
    pub description: String,
    pub options: PrintOptions,
    /// File (in the template's folder) with the running header; rendered with the same data.
    pub header: Option<String>,
    /// File with the running footer; rendered with the same data.
    pub footer: Option<String>,
    /// The page count a document from this template is expected to have.
    pub pages: PageRange,
    /// File (in the template's folder) with the JSON Schema every job's data must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The fixture (`fixtures/NAME.json`) shown to clients as example data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// This template's pixel comparison limits; each one given replaces the run's.
    #[serde(skip_serializing_if = "TemplateLimits::is_empty")]
    pub limits: TemplateLimits,
    /// Areas the pixel comparison ignores on this template's pages: rectangles, and elements
    /// by CSS selector.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<Mask>,
    /// `false` when the fallback engine cannot print this template right (WeasyPrint draws
    /// colour emoji at their bitmap's size): it is then never proved on the fallback, and
    /// has no fallback baselines. Absent means `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<bool>,
}

impl TemplateConfig {
    /// Whether the fallback engine prints this template (`"fallback"` is not `false`).
    pub fn fallback_prints(&self) -> bool {
        self.fallback != Some(false)
    }
}

/// A template's own limits for the pixel comparison (`template.json` `limits`). Each one given
/// replaces the run's (the service's defaults, or `check`'s flags) for this template's pages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateLimits {
    /// Changed pixels a page may have (a page fails only above both limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
    /// Fraction of a page's pixels that may change, 0 to 1 (0.0005 is 0.05 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// pixelmatch's colour threshold, 0 to 1; smaller is more sensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl TemplateLimits {
    fn is_empty(&self) -> bool {
        *self == TemplateLimits::default()
    }

    /// The run's limits with this template's in their place.
    pub fn over(&self, run: &Limits) -> Limits {
        let mut limits = run.clone();
        if let Some(n) = self.max_pixels {
            limits.max_pixels = n;
        }
        if let Some(r) = self.max_ratio {
            limits.max_ratio = r;
        }
        if let Some(t) = self.threshold {
            limits.pixelmatch.threshold = t;
        }
        limits
    }

    fn problem(&self) -> Option<String> {
        let fraction = |name: &str, v: Option<f64>| {
            v.filter(|v| !(0.0..=1.0).contains(v)).map(|v| format!("limits.{name} is from 0 to 1, not {v}"))
        };
        fraction("max_ratio", self.max_ratio).or_else(|| fraction("threshold", self.threshold))
    }
}

/// An inclusive range of page counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRange {
    pub min: usize,
    pub max: usize,
}

impl Default for PageRange {
    fn default() -> Self {
        PageRange { min: 1, max: 100 }
    }
}

/// Sample data for a template, used for baselines and `check`.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The file stem (`basic` for `fixtures/basic.json`).
    pub name: String,
    pub path: PathBuf,
    pub data: serde_json::Value,
}

/// One template folder.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub dir: PathBuf,
    pub config: TemplateConfig,
    /// The data's schema (`config.schema`), compiled once.
    schema: Option<DataSchema>,
}

/// A template's data schema: as written, and compiled.
#[derive(Debug, Clone)]
pub struct DataSchema {
    pub json: serde_json::Value,
    validator: jsonschema::Validator,
}

impl Template {
    fn load(name: &str, dir: &Path) -> Result<Template, TemplateError> {
        let cfg_path = dir.join("template.json");
        let config: TemplateConfig = if cfg_path.is_file() {
            let text = read(&cfg_path)?;
            serde_json::from_str(&text)
                .map_err(|e| TemplateError::Config { path: cfg_path.clone(), detail: e.to_string() })?
        } else {
            TemplateConfig::default()
        };
        if !dir.join("template.html").is_file() {
            return Err(TemplateError::Read { path: dir.join("template.html"), detail: "missing".into() });
        }
        let bad = |detail: String| TemplateError::Config { path: cfg_path.clone(), detail };
        if let Some(problem) = config.limits.problem().or_else(|| config.masks.iter().find_map(Mask::problem)) {
            return Err(bad(problem));
        }
        if let Some(mark) = &config.options.watermark {
            crate::postprocess::watermark::check_mark(mark, &Assets::Template(dir.to_path_buf()))
                .map_err(|e| bad(format!("options.{e}")))?;
        }
        if let Some(example) = &config.example {
            if !dir.join("fixtures").join(format!("{example}.json")).is_file() {
                return Err(bad(format!(
                    "\"example\" names fixtures/{example}.json, which is not there: name one of the fixtures"
                )));
            }
        }
        let schema = config.schema.as_deref().map(|file| DataSchema::load(dir, file)).transpose()?;
        Ok(Template { name: name.to_string(), dir: dir.to_path_buf(), config, schema })
    }

    /// The data's JSON Schema, if the template declares one.
    pub fn schema(&self) -> Option<&DataSchema> {
        self.schema.as_ref()
    }

    /// The example data (`config.example`'s fixture), if the template names one.
    pub fn example(&self) -> Result<Option<Fixture>, TemplateError> {
        let Some(name) = &self.config.example else { return Ok(None) };
        Ok(self.fixtures()?.into_iter().find(|f| &f.name == name))
    }

    /// Checks `data` against the template's schema: every problem, or none.
    pub fn validate(&self, data: &serde_json::Value) -> Result<(), TemplateError> {
        let Some(schema) = &self.schema else { return Ok(()) };
        let problems = schema.problems(data);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TemplateError::Data { template: self.name.clone(), problems })
        }
    }

    /// The pixel comparison's limits for this template's pages: its own over the run's.
    pub fn verdict_limits(&self, run: &Limits) -> Limits {
        self.config.limits.over(run)
    }

    /// The fixtures in `fixtures/`, sorted by name.
    pub fn fixtures(&self) -> Result<Vec<Fixture>, TemplateError> {
        let dir = self.dir.join("fixtures");
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let text = read(&path)?;
            let data = serde_json::from_str(&text)
                .map_err(|e| TemplateError::Config { path: path.clone(), detail: e.to_string() })?;
            out.push(Fixture { name, path, data });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn environment(&self) -> minijinja::Environment<'static> {
        let mut env = minijinja::Environment::new();
        env.set_loader(minijinja::path_loader(&self.dir));
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Autoescape every template we render (they are all HTML).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env
    }

    fn render_file(
        &self,
        env: &minijinja::Environment<'static>,
        file: &str,
        data: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let tmpl = env.get_template(file).map_err(|e| self.render_error(e))?;
        tmpl.render(data).map_err(|e| self.render_error(e))
    }

    fn render_error(&self, e: minijinja::Error) -> TemplateError {
        TemplateError::Render { template: self.name.clone(), detail: crate::error_chain::chain(&e) }
    }

    /// Checks `data` against the schema, then renders the template with it into a printable
    /// document.
    pub fn document(&self, data: &serde_json::Value, label: &str) -> Result<Document, TemplateError> {
        self.validate(data)?;
        let env = self.environment();
        let html = self.render_file(&env, "template.html", data)?;
        let mut options = self.config.options.clone();
        if let Some(h) = &self.config.header {
            options.header_template = Some(self.render_file(&env, h, data)?);
        }
        if let Some(f) = &self.config.footer {
            options.footer_template = Some(self.render_file(&env, f, data)?);
        }
        Ok(Document {
            label: label.to_string(),
            html,
            assets: Assets::Template(self.dir.clone()),
            options,
            origin: Origin::Template,
            mask_selectors: self.config.masks.iter().filter_map(Mask::selector).cloned().collect(),
            merge: Vec::new(),
        })
    }
}

impl DataSchema {
    /// Reads and compiles `file` (in `dir`). A schema refers only to itself: `$ref`s to files
    /// or URLs are not resolved (the crate is built without resolvers).
    fn load(dir: &Path, file: &str) -> Result<DataSchema, TemplateError> {
        let path = crate::document::safe_relative_path(file).map(|rel| dir.join(rel)).ok_or_else(|| {
            TemplateError::Config {
                path: dir.join("template.json"),
                detail: format!(
                    "\"schema\" must be a file in the template's folder, like \"schema.json\", not {file:?}"
                ),
            }
        })?;
        let json: serde_json::Value = serde_json::from_str(&read(&path)?)
            .map_err(|e| TemplateError::Config { path: path.clone(), detail: e.to_string() })?;
        let validator = jsonschema::validator_for(&json).map_err(|e| TemplateError::Config {
            path: path.clone(),
            detail: format!("not a usable JSON Schema: {e} (at {})", shown_pointer(e.schema_path().as_str())),
        })?;
        Ok(DataSchema { json, validator })
    }

    /// Every way `data` fails the schema, in the validator's order.
    pub fn problems(&self, data: &serde_json::Value) -> Vec<DataProblem> {
        self.validator.iter_errors(data).map(|e| problem(&e)).collect()
    }
}

/// A validation error as a client reads it: a missing key is named by its own pointer, a value
/// of the wrong type says both types.
fn problem(e: &jsonschema::ValidationError<'_>) -> DataProblem {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = e.instance_path().as_str().to_string();
    match e.kind() {
        Kind::Required { property } => {
            let key = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
            let escaped = key.replace('~', "~0").replace('/', "~1");
            DataProblem { pointer: format!("{at}/{escaped}"), message: "missing required key".to_string() }
        }
        Kind::Type { kind } => {
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => t.to_string(),
                jsonschema::error::TypeKind::Multiple(set) => {
                    set.into_iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or ")
                }
            };
            DataProblem { pointer: at, message: format!("expected {expected}, got {}", json_type(e.instance())) }
        }
        _ => DataProblem { pointer: at, message: e.masked_with("the value").to_string() },
    }
}

/// `string "3"`, `number 3`, `object`: a value's JSON type, with short scalars shown.
fn json_type(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let shown = |kind: &str, text: String| {
        if text.chars().count() <= 40 {
            format!("{kind} {text}")
        } else {
            kind.to_string()
        }
    };
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => shown(if n.is_i64() || n.is_u64() { "integer" } else { "number" }, n.to_string()),
        Value::String(s) => shown("string", format!("{s:?}")),
        Value::Array(_) => "array".to_string(),
        Value::Object(_) => "object".to_string(),
    }
}

fn read(path: &Path) -> Result<String, TemplateError> {
    std::fs::read_to_string(path).map_err(|e| TemplateError::Read { path: path.to_path_buf(), detail: e.to_string() })
}

/// Every template under a directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: PathBuf,
    pub templates: Vec<Template>,
}

impl Catalog {
    pub fn load(dir: &Path) -> Result<Catalog, TemplateError> {
        if !dir.is_dir() {
            return Err(TemplateError::NoDir(dir.to_path_buf()));
        }
        let mut templates = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| TemplateError::Read { path: dir.to_path_buf(), detail: e.to_string() })?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.join("template.html").is_file() {
                let name = entry.file_name().to_string_lossy().to_string();
                templates.push(Template::load(&name, &path)?);
            }
        }
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Catalog { dir: dir.to_path_buf(), templates })
    }

    pub fn get(&self, name: &str) -> Result<&Template, TemplateError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(TemplateError::BadName(name.to_string()));
        }
        self.templates.iter().find(|t| t.name == name).ok_or_else(|| TemplateError::Unknown {
            name: name.to_string(),
            known: self.templates.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The bundled `templates/` directory, found as the fonts and baselines are
/// (`bundled::Bundled::default_dir`).
pub fn default_templates_dir() -> PathBuf {
    crate::bundled::Bundled::Templates.default_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn renders_with_autoescape_and_names_unknown_templates() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "t1/template.html", "<p>{{ name }}</p>");
        write(tmp.path(), "t1/fixtures/a.json", r#"{"name": "<script>x</script>"}"#);
        let cat = Catalog::load(tmp.path()).unwrap();
        let t = cat.get("t1").unwrap();
        let fx = t.fixtures().unwrap();
        assert_eq!(fx.len(), 1);
        let doc = t.document(&fx[0].data, "t1/a").unwrap();
        assert_eq!(doc.html, "<p>&lt;script&gt;x&lt;&#x2f;script&gt;</p>");
        let err = cat.get("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("t1"), "{err}");
        assert!(matches!(cat.get("../t1"), Err(TemplateError::BadName(_))));
    }

    const SCHEMA: &str = r#"{"type": "object", "required": ["customer", "lines"],
        "properties": {"customer": {"type": "object", "required": ["name", "a/b"]},
                       "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}}}}"#;

    #[test]
    fn data_failing_the_schema_lists_every_problem_with_its_pointer_before_rendering() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "t1/template.html", "<p>{{ customer.name }}</p>");
        write(tmp.path(), "t1/schema.json", SCHEMA);
        write(tmp.path(), "t1/template.json", r#"{"schema": "schema.json"}"#);
        let cat = Catalog::load(tmp.path()).unwrap();
        let t = cat.get("t1").unwrap();
        let data = serde_json::json!({"customer": {}, "lines": [{"qty": 1}, {"qty": "3"}]});
        let Err(TemplateError::Data { template, problems }) = t.document(&data, "x") else {
            panic!("not a data error")
        };
        assert_eq!(template, "t1");
        let listed: Vec<(&str, &str)> = problems.iter().map(|p| (p.pointer.as_str(), p.message.as_str())).collect();
        assert_eq!(
            listed,
            [
                ("/customer/name", "missing required key"),
                ("/customer/a~1b", "missing required key"),
                ("/lines/1/qty", "expected integer, got string \"3\""),
            ]
        );
        let err = t.validate(&serde_json::json!({})).unwrap_err().to_string();
        assert_eq!(
            err,
            "\"data\" does not match template t1's schema (2 problems): /customer: missing required key; \
             /lines: missing required key. GET /v1/templates/t1 shows the schema and an example"
        );
        let ok = serde_json::json!({"customer": {"name": "A", "a/b": 1}, "lines": []});
        assert_eq!(t.document(&ok, "x").unwrap().html, "<p>A</p>");
    }

    #[test]
    fn template_json_mistakes_are_named_at_load() {
        let cases = [
            (r#"{"schema": "nope.json"}"#, "nope.json"),
            (r#"{"schema": "../schema.json"}"#, "must be a file in the template's folder"),
            (r#"{"example": "missing"}"#, "fixtures/missing.json, which is not there"),
            (r#"{"limits": {"max_ratio": 2}}"#, "limits.max_ratio is from 0 to 1, not 2"),
            (r#"{"limits": {"max_pixel": 2}}"#, "unknown field `max_pixel`"),
            (r#"{"masks": [{"x": 0, "y": 0, "width": -1, "height": 1}]}"#, "covers nothing"),
        ];
        for (json, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            write(tmp.path(), "t1/template.html", "<p></p>");
            write(tmp.path(), "t1/template.json", json);
            let err = Catalog::load(tmp.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "t1/template.html", "<p></p>");
        write(tmp.path(), "t1/schema.json", r#"{"type": "nonsense"}"#);
        write(tmp.path(), "t1/template.json", r#"{"schema": "schema.json"}"#);
        let err = Catalog::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not a usable JSON Schema"), "{err}");
    }

    #[test]
    fn a_template_s_limits_replace_the_run_s_one_by_one() {
        let run = Limits::default();
        let own = TemplateLimits { max_pixels: Some(7), max_ratio: None, threshold: Some(0.3) };
        let l = own.over(&run);
        assert_eq!((l.max_pixels, l.max_ratio, l.pixelmatch.threshold), (7, run.max_ratio, 0.3));
        assert_eq!(TemplateLimits::default().over(&run), run);
    }

    #[test]
    fn missing_data_is_a_render_error() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "t1/template.html", "<p>{{ customer.name }}</p>");
        let cat = Catalog::load(tmp.path()).unwrap();
        let err = cat.get("t1").unwrap().document(&serde_json::json!({}), "x").unwrap_err().to_string();
        assert!(err.contains("t1") && err.contains("undefined"), "{err}");
    }
}
