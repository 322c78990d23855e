//! Reading a CSV file as people's spreadsheets write it: UTF-8 with or
//! without a byte-order mark, comma or semicolon (Finnish Excel writes
//! semicolons; the header line decides), fields in double quotes with `""`
//! for a quote and line breaks inside, CRLF or LF.

use super::FieldError;

/// A file read: the header's column names (trimmed, lower case) and each
/// record with its row number as a spreadsheet shows it (the header is
/// row 1; a quoted line break does not start a new row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The column's index, if the header has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// The delimiter of a file: `;` when the header line has more semicolons
/// than commas outside quotes, else `,`.
fn delimiter(text: &str) -> char {
    let (mut commas, mut semis, mut quoted) = (0, 0, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semis += 1,
            '\n' if !quoted => break,
            _ => {}
        }
    }
    if semis > commas { ';' } else { ',' }
}

/// Reads a whole file. Errors name the field `file`: no header, a quote
/// left open, a row with more cells than the header.
pub fn read(text: &str) -> Result<Table, FieldError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delim = delimiter(text);
    let mut records: Vec<(usize, Vec<String>)> = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    // Was the current field quoted at all (so `""` is an empty cell, not
    // a missing one)?
    let mut any = false;
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                // A line break in a cell is kept as LF, whatever the file's.
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !any => {
                quoted = true;
                any = true;
            }
            c if c == delim => {
                record.push(std::mem::take(&mut field));
                any = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                any = false;
                records.push((start_line, std::mem::take(&mut record)));
                line += 1;
                start_line = line;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(FieldError::new(
            "file",
            format!("error.csv_open_quote|row={start_line}"),
        ));
    }
    if !field.is_empty() || any || !record.is_empty() {
        record.push(field);
        records.push((start_line, record));
    }
    // Blank lines (a trailing one above all) are no rows.
    records.retain(|(_, r)| !(r.len() == 1 && r[0].trim().is_empty()));
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(FieldError::new("file", "error.csv_empty"));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut rows = Vec::new();
    for (n, mut r) in it {
        if r.len() > header.len() {
            if r[header.len()..].iter().all(|c| c.trim().is_empty()) {
                r.truncate(header.len());
            } else {
                return Err(FieldError::new(
                    "file",
                    format!("error.csv_too_many_cells|row={n}"),
                ));
            }
        }
        r.resize(header.len(), String::new());
        rows.push((n, r));
    }
    Ok(Table { header, rows })
}

/// One field of a CSV file being written: quoted when it needs it, and a
/// cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`) gets
/// a leading `'`.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_quotes_and_line_breaks() {
        let t = read(
            "Name,street_address\r\n\"Oy, Ab\",\"line 1\nline 2\"\r\nplain,\"say \"\"hi\"\"\"\n\n",
        )
        .unwrap();
        assert_eq!(t.header, ["name", "street_address"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.rows[0],
            (2, vec!["Oy, Ab".to_string(), "line 1\nline 2".into()])
        );
        // The quoted line break does not move the next row's number.
        assert_eq!(t.rows[1].0, 4);
        assert_eq!(t.rows[1].1[1], "say \"hi\"");
    }

    #[test]
    fn semicolons_and_a_byte_order_mark() {
        let t = read("\u{feff}name;vat_id\nÄkäs Oy;0112038-9\nShort\n").unwrap();
        assert_eq!(t.header, ["name", "vat_id"]);
        assert_eq!(t.rows[0].1, ["Äkäs Oy", "0112038-9"]);
        // A short row is padded; the cells it lacks are empty.
        assert_eq!(t.rows[1].1, ["Short", ""]);
    }

    #[test]
    fn broken_files_say_where() {
        assert_eq!(read("").unwrap_err().message, "error.csv_empty");
        assert_eq!(
            read("a\n\"open\n").unwrap_err().message,
            "error.csv_open_quote|row=2"
        );
        assert_eq!(
            read("a\nx,y\n").unwrap_err().message,
            "error.csv_too_many_cells|row=2"
        );
        assert_eq!(read("a,b\nx,y,,\n").unwrap().rows[0].1, ["x", "y"]);
    }

    #[test]
    fn written_fields_round_trip_and_defuse_formulas() {
        for s in ["plain", "a,b", "a;b", "say \"hi\"", "two\nlines", ""] {
            let t = read(&format!("h\n{}\n", field(s))).unwrap();
            let got = t.rows.first().map(|r| r.1[0].clone()).unwrap_or_default();
            assert_eq!(got, s);
        }
        assert_eq!(field("=cmd()"), "'=cmd()");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("@x,y"), "\"'@x,y\"");
    }
}
