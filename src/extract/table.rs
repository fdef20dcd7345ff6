//! `.csv` / `.tsv`: every row written out with its column names ("Month: March · Total: 1,204"),
//! one paragraph per row, so that a question about one row finds it and the chunk that holds it
//! says what each value is. Quoted fields, embedded separators and newlines are parsed by the
//! `csv` crate (already in the dependency tree through arrow-csv); the separator of a `.csv` is
//! the one of `,` `;` `\t` `|` that splits the first lines most consistently.

/// Rows written out at most; the rest is named in a last line (and not indexed).
pub const MAX_ROWS: usize = 50_000;
/// Columns written out per row at most.
const MAX_COLUMNS: usize = 64;
/// Longest cell kept whole.
const MAX_CELL_CHARS: usize = 2_000;

/// The rows of `text` written out with their column names, or `None` when it does not parse as
/// a table of at least two columns (it is then read as plain text).
pub fn table_text(text: &str, tsv: bool) -> Option<String> {
    let sep = if tsv { b'\t' } else { sniff_separator(text)? };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let rows = reader
        .records()
        .filter_map(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect::<Vec<String>>());
    let mut rows = rows.peekable();
    if rows.peek()?.len() < 2 {
        return None;
    }
    rows_text(rows)
}

/// Rows of cells written out with their column names ("Row 3 · Month: March · Total: 1,204"),
/// one paragraph per row; leading rows of one cell (a sheet's title above its header) are kept
/// as lines of their own. `None` when no row has a value.
pub fn rows_text(rows: impl Iterator<Item = Vec<String>>) -> Option<String> {
    let mut out = String::new();
    let mut rows = rows.peekable();
    // Title lines above the table.
    while let Some(row) = rows.peek() {
        let filled: Vec<&str> = row
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        if filled.len() >= 2 {
            break;
        }
        if let Some(line) = filled.first() {
            out.push_str(line);
            out.push_str("\n\n");
        }
        rows.next();
    }
    let Some(first) = rows.next() else {
        return (!out.trim().is_empty()).then_some(out);
    };
    let first: Vec<String> = first.iter().map(|c| c.trim().to_string()).collect();
    // A first row of distinct non-numeric names is the header; else columns are numbered and the
    // first row is data.
    let is_header = first.iter().all(|c| !c.is_empty() && !looks_numeric(c)) && {
        let mut seen = std::collections::HashSet::new();
        first.iter().all(|c| seen.insert(c.to_lowercase()))
    };
    let names: Vec<String> = if is_header {
        first.clone()
    } else {
        (1..=first.len()).map(|i| format!("column {i}")).collect()
    };
    let mut n = 0usize;
    let write_row = |cells: &[String], out: &mut String, n: &mut usize| {
        *n += 1;
        let mut parts = Vec::new();
        for (i, cell) in cells.iter().take(MAX_COLUMNS).enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let cell: String = cell.chars().take(MAX_CELL_CHARS).collect();
            let cell = cell.split_whitespace().collect::<Vec<_>>().join(" ");
            match names.get(i) {
                Some(name) if !name.is_empty() => parts.push(format!("{name}: {cell}")),
                _ => parts.push(format!("column {}: {cell}", i + 1)),
            }
        }
        if !parts.is_empty() {
            out.push_str(&format!("Row {n} · {}\n\n", parts.join(" · ")));
        }
    };
    if !is_header {
        write_row(&first, &mut out, &mut n);
    }
    let mut more = 0usize;
    for cells in rows {
        if n >= MAX_ROWS {
            more += 1;
            continue;
        }
        write_row(&cells, &mut out, &mut n);
    }
    if more > 0 {
        out.push_str(&format!(
            "({more} more rows are not indexed: Hearth reads the first {MAX_ROWS} rows of a table.)\n"
        ));
    }
    (!out.trim().is_empty()).then_some(out)
}

fn looks_numeric(s: &str) -> bool {
    let t: String = s
        .chars()
        .filter(|c| !matches!(c, ',' | '.' | ' ' | '%' | '$' | '€' | '£' | '-' | '+'))
        .collect();
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit())
}

/// The separator that gives the first lines the same number (≥ 2) of fields most often.
fn sniff_separator(text: &str) -> Option<u8> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let mut best: Option<(usize, usize, u8)> = None;
    for sep in [b',', b';', b'\t', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l.bytes().filter(|&b| b == sep).count())
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let agree = counts.iter().filter(|&&c| c == first).count();
        let score = (agree, first, sep);
        if best.is_none_or(|b| (score.0, score.1) > (b.0, b.1)) {
            best = Some(score);
        }
    }
    best.map(|b| b.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_with_their_column_names() {
        let csv = "Month,Total,Note\nJanuary,\"1,020\",cold\nMarch,\"1,204\",\"windy, wet\"\n";
        let text = table_text(csv, false).unwrap();
        assert_eq!(
            text,
            "Row 1 · Month: January · Total: 1,020 · Note: cold\n\n\
             Row 2 · Month: March · Total: 1,204 · Note: windy, wet\n\n"
        );
    }

    #[test]
    fn separators_are_sniffed_and_numbers_are_not_a_header() {
        let text = table_text("a;1;2\nb;3;4\n", false).unwrap();
        assert!(
            text.starts_with("Row 1 · column 1: a · column 2: 1"),
            "{text}"
        );
        let text = table_text("name\tqty\nbolts\t12\n", true).unwrap();
        assert_eq!(text, "Row 1 · name: bolts · qty: 12\n\n");
        // Prose with a comma or two is not a table.
        assert_eq!(
            table_text("Hello there.\nNothing tabular here\n", false),
            None
        );
    }

    #[test]
    fn huge_tables_are_bounded_and_say_so() {
        let mut csv = String::from("k,v\n");
        for i in 0..MAX_ROWS + 5 {
            csv.push_str(&format!("{i},x\n"));
        }
        let text = table_text(&csv, false).unwrap();
        assert!(text.ends_with(
            "(5 more rows are not indexed: Hearth reads the first 50000 rows of a table.)\n"
        ));
    }
}
