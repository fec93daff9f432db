//! Printing command results: padded tables for people, JSON and YAML for scripts.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::cli::{CliError, OutputFormat};

/// A table: a header and rows of cells, printed with every column padded to its widest cell.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Self {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in cells.iter().enumerate() {
                if index > 0 {
                    line.push_str("  ");
                }
                let width = widths.get(index).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// One cell of a table holding `text`, with line breaks and control characters replaced so a
/// hostile value cannot break the layout or drive the terminal.
pub(crate) fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A JSON value as one short line: strings bare, lists joined, objects as JSON.
pub(crate) fn value_cell(value: &Value) -> String {
    match value {
        Value::String(text) => cell(text),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(value_cell).collect::<Vec<_>>().join(", "),
        other => cell(&other.to_string()),
    }
}

/// A value's wire name (`ready`, `available`): its JSON form without the quotes.
pub(crate) fn wire_name<S: Serialize>(value: &S) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Writes `data` as JSON or YAML, or `table()` for the table format.
pub(crate) fn emit<S: Serialize>(
    out: &mut dyn Write,
    format: OutputFormat,
    data: &S,
    table: impl FnOnce() -> String,
) -> Result<(), CliError> {
    let text = match format {
        OutputFormat::Table => table(),
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(data)
                .map_err(|err| CliError::Failed(format!("encoding JSON: {err}")))?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml => serde_norway::to_string(data)
            .map_err(|err| CliError::Failed(format!("encoding YAML: {err}")))?,
    };
    write_text(out, &text)
}

/// Writes `text` to `out`.
pub(crate) fn write_text(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| CliError::Failed(format!("writing the output: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = Table::new(&["NAME", "STATE"]);
        table.row(vec!["a-long-name".to_owned(), "ready".to_owned()]);
        table.row(vec!["b".to_owned(), "failed".to_owned()]);
        assert_eq!(
            table.render(),
            "NAME         STATE\na-long-name  ready\nb            failed\n"
        );
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        assert_eq!(cell("a\nb\x1b[2J"), "a b [2J");
    }
}
