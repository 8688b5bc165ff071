//! Columnar, interned in-memory table loaded from CSV.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::KanonError;

/// One column of a [`Table`]: every distinct cell string once, and one code per row.
#[derive(Debug, Clone)]
pub struct Column {
    /// Distinct cell values, in order of first appearance.
    pub dict: Vec<String>,
    /// Per row, the index of its value in `dict`.
    pub codes: Vec<u32>,
}

impl Column {
    /// The cell of `row`.
    pub fn value(&self, row: usize) -> &str {
        &self.dict[self.codes[row] as usize]
    }
}

/// A table with a header row, stored column by column with interned cells, so that
/// memory grows linearly with the rows and not with the string lengths of repeated values.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    columns: Vec<Column>,
    rows: usize,
}

impl Table {
    /// Reads a delimited file with a header row (`sep` is the field separator, e.g. `b';'`).
    /// CRLF and LF line endings are both accepted; quoted fields follow RFC 4180.
    pub fn from_csv_path(path: impl AsRef<Path>, sep: u8) -> Result<Table, KanonError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| KanonError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_reader(
            std::io::BufReader::new(file),
            sep,
            &path.display().to_string(),
        )
    }

    /// Reads delimited text with a header row from any reader; `name` is used in error messages.
    pub fn from_reader<R: Read>(reader: R, sep: u8, name: &str) -> Result<Table, KanonError> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(sep)
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        let csv_err = |source: csv::Error| KanonError::Csv {
            path: name.to_string(),
            source,
        };
        let headers: Vec<String> = rdr
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut maps: Vec<HashMap<Box<str>, u32>> = vec![HashMap::new(); headers.len()];
        let mut columns: Vec<Column> = (0..headers.len())
            .map(|_| Column {
                dict: Vec::new(),
                codes: Vec::new(),
            })
            .collect();
        let mut rec = csv::StringRecord::new();
        let mut rows = 0usize;
        while rdr.read_record(&mut rec).map_err(csv_err)? {
            if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) && headers.len() > 1 {
                continue; // blank line
            }
            for (c, field) in rec.iter().enumerate() {
                let col = &mut columns[c];
                let code = match maps[c].get(field) {
                    Some(&code) => code,
                    None => {
                        let code = u32::try_from(col.dict.len())
                            .map_err(|_| KanonError::TooLarge(name.to_string()))?;
                        maps[c].insert(field.into(), code);
                        col.dict.push(field.to_string());
                        code
                    }
                };
                col.codes.push(code);
            }
            rows += 1;
        }
        Self::from_columns(headers, columns).map(|mut t| {
            t.rows = rows;
            t
        })
    }

    /// Builds a table from already interned columns (all of the same length).
    pub fn from_columns(headers: Vec<String>, columns: Vec<Column>) -> Result<Table, KanonError> {
        if headers.len() != columns.len() {
            return Err(KanonError::InvalidConfig(format!(
                "{} headers but {} columns",
                headers.len(),
                columns.len()
            )));
        }
        let rows = columns.first().map_or(0, |c| c.codes.len());
        for (h, c) in headers.iter().zip(&columns) {
            if c.codes.len() != rows {
                return Err(KanonError::InvalidConfig(format!(
                    "column {h} has {} rows, expected {rows}",
                    c.codes.len()
                )));
            }
            if c.codes.iter().any(|&x| x as usize >= c.dict.len()) {
                return Err(KanonError::InvalidConfig(format!(
                    "column {h} has a code outside its dictionary"
                )));
            }
        }
        for (i, h) in headers.iter().enumerate() {
            if headers[..i].contains(h) {
                return Err(KanonError::DuplicateColumn(h.clone()));
            }
        }
        if u32::try_from(rows).is_err() {
            return Err(KanonError::TooLarge("table".into()));
        }
        Ok(Table {
            headers,
            columns,
            rows,
        })
    }

    /// Builds a table from rows of strings (convenient for tests and small inputs).
    pub fn from_rows(headers: Vec<String>, rows: &[Vec<String>]) -> Result<Table, KanonError> {
        let mut maps: Vec<HashMap<String, u32>> = vec![HashMap::new(); headers.len()];
        let mut columns: Vec<Column> = (0..headers.len())
            .map(|_| Column {
                dict: Vec::new(),
                codes: Vec::with_capacity(rows.len()),
            })
            .collect();
        for (r, row) in rows.iter().enumerate() {
            if row.len() != headers.len() {
                return Err(KanonError::InvalidConfig(format!(
                    "row {r} has {} fields, header has {}",
                    row.len(),
                    headers.len()
                )));
            }
            for (c, v) in row.iter().enumerate() {
                let col = &mut columns[c];
                let code = *maps[c].entry(v.clone()).or_insert_with(|| {
                    col.dict.push(v.clone());
                    (col.dict.len() - 1) as u32
                });
                col.codes.push(code);
            }
        }
        Self::from_columns(headers, columns)
    }

    /// Number of data rows (the header excluded).
    pub fn n_rows(&self) -> usize {
        self.rows
    }

    /// The column names, in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Result<usize, KanonError> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| KanonError::UnknownColumn(name.to_string()))
    }

    /// The column at `index`.
    pub fn column(&self, index: usize) -> &Column {
        &self.columns[index]
    }

    /// The cell at `row`, `col`.
    pub fn value(&self, row: usize, col: usize) -> &str {
        self.columns[col].value(row)
    }
}

/// True when `s` (trimmed) is a plain decimal number such as `-1.5e3` (no `nan`, `inf`).
pub(crate) fn is_number(s: &str) -> bool {
    let b = s.trim().as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - fs;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for s in ["1", "-2", "+3.5", ".5", "5.", "1e3", " 7 ", "-1.5E-2"] {
            assert!(is_number(s), "{s}");
        }
        for s in ["", "nan", "inf", "1-2", "e3", "1e", "--1", "."] {
            assert!(!is_number(s), "{s}");
        }
    }

    #[test]
    fn reads_crlf_and_interns() {
        let t = Table::from_reader("a;b\r\n1;x\r\n2;x\r\n".as_bytes(), b';', "t").unwrap();
        assert_eq!(t.n_rows(), 2);
        assert_eq!(t.column(1).dict.len(), 1);
        assert_eq!(t.value(1, 0), "2");
    }
}
