//! The markdown content pipeline: parse and validate files, render them, sync them into PostgreSQL.

pub mod catalog;
pub mod fix;
pub mod highlight;
pub mod import;
pub mod links;
pub mod meta;
pub mod parse;
pub mod plain;
pub mod plan;
pub mod render;
pub mod rows;
pub mod sync;

use std::fmt;
use std::path::PathBuf;

pub use catalog::Catalog;
pub use parse::{Content, Invalid, parse_dir};

/// One problem in a content file, pointing at the line to fix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 means the problem is the file or folder as a whole.
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}
