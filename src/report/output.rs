//! Writing results to stdout. A closed pipe (`docker azdeploy config | head -1`) is not an
//! error: we stop writing and exit 0, as ripgrep does.

use std::io::Write;

use crate::report::error::Error;

/// Writes `text` (and a newline) to stdout.
pub fn stdout_line(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Io {
            action: "write to",
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes a JSON value, pretty-printed, to stdout.
pub fn stdout_json(value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).expect("a JSON value always serialises");
    stdout_line(&text)
}

/// Formats rows as left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 < r.len() {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end_matches('\n').to_string()
}

/// Wraps `text` at spaces to `width` columns, continuation lines indented by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let body = text.trim_start_matches(' ');
    let mut line = text[..text.len() - body.len()].to_string(); // the text's own indentation
    let mut fresh = true; // no word on this line yet
    let mut out = String::new();
    for word in body.split(' ') {
        let len = line.chars().count() + 1 + word.chars().count();
        if !fresh && len > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(&line);
    out
}

#[cfg(test)]
mod wrap_tests {
    #[test]
    fn keeps_the_indentation_and_the_width() {
        let w = super::wrap("   hint: one two three four five", 16, "         ");
        assert_eq!(
            w,
            "   hint: one two\n         three\n         four\n         five"
        );
        assert_eq!(super::wrap("short", 100, "  "), "short");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns_columns() {
        let t = super::table(&[
            vec!["KEY".into(), "VALUE".into(), "SOURCE".into()],
            vec!["platform".into(), "linux/amd64".into(), "default".into()],
        ]);
        assert_eq!(
            t,
            "KEY       VALUE        SOURCE\nplatform  linux/amd64  default"
        );
    }
}
