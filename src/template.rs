//! Templates: `templates/NAME/template.html` (minijinja, autoescaped), its assets, its
//! print settings (`template.json`) and its sample data (`fixtures/*.json`).
//!
//! A template plus JSON data becomes a [`Document`]; the template's folder is the
//! document's asset root, so `<link href="style.css">` and `<img src="logo.svg">` work.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

impl Template {
    fn load(name: &str, dir: &Path) -> Result<Template, TemplateError> {
        let cfg_path = dir.join("template.json");
        let config = if cfg_path.is_file() {
            let text = std::fs::read_to_string(&cfg_path)
                .map_err(|e| TemplateError::Read { path: cfg_path.clone(), detail: e.to_string() })?;
            serde_json::from_str(&text)
                .map_err(|e| TemplateError::Config { path: cfg_path.clone(), detail: e.to_string() })?
        } else {
            TemplateConfig::default()
        };
        if !dir.join("template.html").is_file() {
            return Err(TemplateError::Read { path: dir.join("template.html"), detail: "missing".into() });
        }
        Ok(Template { name: name.to_string(), dir: dir.to_path_buf(), config })
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
            let text = std::fs::read_to_string(&path)
                .map_err(|e| TemplateError::Read { path: path.clone(), detail: e.to_string() })?;
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

    /// Renders the template with `data` into a printable document.
    pub fn document(&self, data: &serde_json::Value, label: &str) -> Result<Document, TemplateError> {
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
        })
    }
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

    #[test]
    fn missing_data_is_a_render_error() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "t1/template.html", "<p>{{ customer.name }}</p>");
        let cat = Catalog::load(tmp.path()).unwrap();
        let err = cat.get("t1").unwrap().document(&serde_json::json!({}), "x").unwrap_err().to_string();
        assert!(err.contains("t1") && err.contains("undefined"), "{err}");
    }
}
