//! Spreadsheets: Excel workbooks (`.xlsx`) and OpenDocument spreadsheets (`.ods`), one section
//! per sheet (`# Sheet: March`) in the workbook's order, each sheet's rows written out with their
//! column names as for a `.csv` ([`super::table::rows_text`]), so "what was the total for
//! March?" finds the row and the citation names the sheet.
//!
//! Read with `zip` + `quick-xml` (already in the tree) rather than `calamine`: calamine 0.38
//! turns on zip's `deflate` feature, which adds zopfli and switches flate2 (shared with the
//! LanceDB and Tauri trees) to zlib-rs, rebuilding much of the tree for two formats.
//!
//! Cells: shared and inline strings, numbers as stored, booleans, formula results; a number
//! whose cell style is a date format is written as a date (`2024-03-31`). Bounded: at most
//! [`super::table::MAX_ROWS`] rows per sheet, and in `.ods` repeated rows/columns (how
//! OpenDocument stores a million empty rows) are expanded only while they hold values, and at
//! most [`MAX_REPEAT`] times.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::office::{attr_value, xml_ref, Package};
use super::table::{rows_text, MAX_ROWS};
use crate::error::{Error, Result};

/// Most times one repeated `.ods` row or cell with a value is written out.
const MAX_REPEAT: usize = 1_000;
/// Most columns read per row (past it a row is cut).
const MAX_COLUMNS: usize = 1_024;

/// One sheet: its name and rows of cell texts.
struct Sheet {
    name: String,
    rows: Vec<Vec<String>>,
}

/// Sheets as text: `# Sheet: NAME` then its rows.
fn sheets_text(sheets: Vec<Sheet>) -> String {
    let mut out = String::new();
    for sheet in sheets {
        let Some(rows) = rows_text(sheet.rows.into_iter()) else {
            continue; // an empty sheet
        };
        out.push_str(&format!("# Sheet: {}\n\n", sheet.name.trim()));
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

fn attr(e: &BytesStart, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().into_inner() == local)
        .and_then(|a| attr_value(&a))
}

fn bad(what: &str) -> impl Fn(quick_xml::Error) -> Error + '_ {
    move |e| Error::unsupported(format!("damaged {what} (XML: {e})"))
}

// ---- .xlsx ----

/// The text of an `.xlsx`.
pub(super) fn xlsx_text(bytes: &[u8]) -> Result<String> {
    let mut pkg = Package::open(bytes, "Excel file")?;
    let workbook = pkg
        .part("xl/workbook.xml")?
        .ok_or_else(|| Error::unsupported("damaged Excel file (no xl/workbook.xml)"))?;
    let rels = xlsx_rels(&mut pkg)?;
    let shared = match pkg.part("xl/sharedStrings.xml")? {
        Some(xml) => shared_strings(&xml)?,
        None => Vec::new(),
    };
    let dates = match pkg.part("xl/styles.xml")? {
        Some(xml) => date_styles(&xml)?,
        None => Vec::new(),
    };
    let mut date1904 = false;
    let mut listed = Vec::new();
    let mut reader = Reader::from_reader(workbook.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(bad("Excel file"))?
        {
            Event::Start(e) | Event::Empty(e) => match e.local_name().into_inner() {
                "workbookPr" => {
                    date1904 = matches!(attr(&e, "date1904").as_deref(), Some("1" | "true"))
                }
                "sheet" => {
                    // r:id is the relationship; the plain `id` attribute does not exist here.
                    let rid = e
                        .attributes()
                        .flatten()
                        .find(|a| {
                            a.key.local_name().into_inner() == "id" && a.key.prefix().is_some()
                        })
                        .and_then(|a| attr_value(&a));
                    let hidden = attr(&e, "state").is_some_and(|s| s != "visible");
                    if let (Some(name), Some(rid), false) = (attr(&e, "name"), rid, hidden) {
                        listed.push((name, rid));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut sheets = Vec::new();
    for (name, rid) in listed {
        let Some(target) = rels.get(&rid) else {
            continue;
        };
        let Some(xml) = pkg.part(target)? else {
            continue; // a chart sheet or a missing part
        };
        let rows = xlsx_rows(&xml, &shared, &dates, date1904)?;
        sheets.push(Sheet { name, rows });
    }
    Ok(sheets_text(sheets))
}

/// Relationship id → part path for the workbook.
fn xlsx_rels(pkg: &mut Package) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let Some(xml) = pkg.part("xl/_rels/workbook.xml.rels")? else {
        return Ok(out);
    };
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(bad("Excel file"))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().into_inner() == "Relationship" => {
                if let (Some(id), Some(target)) = (attr(&e, "Id"), attr(&e, "Target")) {
                    let path = match target.strip_prefix('/') {
                        Some(abs) => abs.to_string(),
                        None => format!("xl/{}", target.trim_start_matches("./")),
                    };
                    out.insert(id, path);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// The shared string table: each `si`'s text (rich-text runs joined; phonetic runs left out).
fn shared_strings(xml: &[u8]) -> Result<Vec<String>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_t = false;
    let mut in_phonetic = false;
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(bad("Excel file"))?
        {
            Event::Start(e) => match e.local_name().into_inner() {
                "si" => current.clear(),
                "t" => in_t = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            Event::Empty(e) if e.local_name().into_inner() == "si" => out.push(String::new()),
            Event::Text(t) if in_t && !in_phonetic => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_t && !in_phonetic => current.extend(xml_ref(&r)),
            Event::End(e) => match e.local_name().into_inner() {
                "si" => out.push(std::mem::take(&mut current)),
                "t" => in_t = false,
                "rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// For each cell style (`cellXfs` index), whether its number format shows a date.
fn date_styles(xml: &[u8]) -> Result<Vec<bool>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut custom: HashMap<u32, bool> = HashMap::new();
    let mut out = Vec::new();
    let mut in_xfs = false;
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(bad("Excel file"))?
        {
            Event::Start(e) | Event::Empty(e) => match e.local_name().into_inner() {
                "numFmt" => {
                    if let (Some(id), Some(code)) = (attr(&e, "numFmtId"), attr(&e, "formatCode")) {
                        if let Ok(id) = id.parse() {
                            custom.insert(id, is_date_format(&code));
                        }
                    }
                }
                "cellXfs" => in_xfs = true,
                "xf" if in_xfs => {
                    let id: u32 = attr(&e, "numFmtId")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let builtin = (14..=22).contains(&id) || (45..=47).contains(&id);
                    out.push(custom.get(&id).copied().unwrap_or(builtin));
                }
                _ => {}
            },
            Event::End(e) if e.local_name().into_inner() == "cellXfs" => in_xfs = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Whether a number format code shows a date: a `d`, `m` + `y`, or `y` outside quoted text,
/// escapes and `[...]` sections (colours, elapsed time).
fn is_date_format(code: &str) -> bool {
    let mut plain = String::new();
    let (mut quoted, mut bracket, mut escaped) = (false, false, false);
    for c in code.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            _ if quoted || bracket => {}
            c => plain.push(c.to_ascii_lowercase()),
        }
    }
    plain.contains('d') || plain.contains('y')
}

/// A stored number as Excel shows it: at most 15 significant digits (`4.1100000000000003` is
/// 4.11), anything that is not a number unchanged.
fn excel_number(v: &str) -> String {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (v.contains('.') || v.contains(['e', 'E'])) => {
            let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
            format!("{rounded}")
        }
        _ => v.to_string(),
    }
}

/// An Excel serial day number as a date (`yyyy-mm-dd`, with `hh:mm` when it has a time).
fn excel_date(serial: f64, date1904: bool) -> Option<String> {
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    // Day 0 is 1899-12-31 and Excel counts a 29 February 1900 that never was: from day 61 on,
    // counting from 1899-12-30 gives the real date. 1904 system: day 0 is 1904-01-01.
    let days = serial.floor() as i64;
    let from_epoch = match (date1904, days >= 61) {
        (true, _) => days - 24_107,
        (false, true) => days - 25_569,
        (false, false) => days - 25_568,
    };
    let (y, m, d) = civil_from_days(from_epoch);
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    Some(if secs > 0 {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    })
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The column index (0-based) of a cell reference like `AB12`.
fn column_of(r: &str) -> Option<usize> {
    let letters: String = r.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    Some(
        letters.bytes().fold(0usize, |n, b| {
            n * 26 + (b.to_ascii_uppercase() - b'A' + 1) as usize
        }) - 1,
    )
}

fn xlsx_rows(
    xml: &[u8],
    shared: &[String],
    dates: &[bool],
    date1904: bool,
) -> Result<Vec<Vec<String>>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell_type = String::new();
    let mut cell_style = 0usize;
    let mut cell_col = 0usize;
    let mut value = String::new();
    let mut formula = String::new();
    let mut in_value = false;
    let mut in_formula = false;
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(bad("Excel file"))?
        {
            Event::Start(e) => match e.local_name().into_inner() {
                "row" => row.clear(),
                "c" => {
                    cell_type = attr(&e, "t").unwrap_or_default();
                    cell_style = attr(&e, "s").and_then(|s| s.parse().ok()).unwrap_or(0);
                    cell_col = attr(&e, "r")
                        .and_then(|r| column_of(&r))
                        .unwrap_or(row.len());
                    value.clear();
                    formula.clear();
                }
                // `v`: the value; `t` inside `is`: an inline string
                "v" | "t" => in_value = true,
                "f" => in_formula = true,
                _ => {}
            },
            Event::Text(t) if in_value => value.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_value => value.extend(xml_ref(&r)),
            Event::Text(t) if in_formula => formula.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_formula => formula.extend(xml_ref(&r)),
            Event::End(e) => match e.local_name().into_inner() {
                "v" | "t" => in_value = false,
                "f" => in_formula = false,
                "c" => {
                    let text = match cell_type.as_str() {
                        // A formula never calculated (files written by libraries): the formula.
                        _ if value.trim().is_empty() && !formula.trim().is_empty() => {
                            format!("={}", formula.trim())
                        }
                        "s" => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i).cloned())
                            .unwrap_or_default(),
                        "b" => (if value.trim() == "1" { "TRUE" } else { "FALSE" }).to_string(),
                        "str" | "inlineStr" | "e" => value.clone(),
                        _ if dates.get(cell_style).copied().unwrap_or(false) => value
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(|v| excel_date(v, date1904))
                            .unwrap_or_else(|| value.clone()),
                        _ => excel_number(&value),
                    };
                    if cell_col < MAX_COLUMNS && !text.trim().is_empty() {
                        if row.len() <= cell_col {
                            row.resize(cell_col + 1, String::new());
                        }
                        row[cell_col] = text;
                    }
                }
                "row" => {
                    if rows.len() > MAX_ROWS {
                        break; // rows_text names what is left out; no need to read on
                    }
                    rows.push(std::mem::take(&mut row));
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(rows)
}

// ---- .ods ----

/// The text of an `.ods`.
pub(super) fn ods_text(bytes: &[u8]) -> Result<String> {
    let xml = Package::open(bytes, "OpenDocument spreadsheet")?
        .part("content.xml")?
        .ok_or_else(|| Error::unsupported("damaged OpenDocument spreadsheet (no content.xml)"))?;
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    let mut sheets: Vec<Sheet> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut row_repeat = 1usize;
    let mut cell = String::new();
    let mut cell_repeat = 1usize;
    let mut in_cell = false;
    let mut paras = 0usize;
    let mut skip = 0usize;
    let bad = bad("OpenDocument spreadsheet");
    loop {
        match reader.read_event_into(&mut buf).map_err(&bad)? {
            Event::Start(e) => {
                let name = e.local_name().into_inner();
                if skip > 0 || matches!(name, "annotation" | "shapes") {
                    skip += 1;
                } else {
                    match name {
                        "table" => sheets.push(Sheet {
                            name: attr(&e, "name").unwrap_or_else(|| "Sheet".into()),
                            rows: Vec::new(),
                        }),
                        "table-row" => {
                            row.clear();
                            row_repeat = repeat(&e, "number-rows-repeated");
                        }
                        "table-cell" | "covered-table-cell" => {
                            cell.clear();
                            paras = 0;
                            in_cell = true;
                            cell_repeat = repeat(&e, "number-columns-repeated");
                        }
                        "p" if in_cell => {
                            if paras > 0 {
                                cell.push(' ');
                            }
                            paras += 1;
                        }
                        _ => {}
                    }
                }
            }
            Event::Empty(e) if skip == 0 => match e.local_name().into_inner() {
                "table-cell" | "covered-table-cell" => {
                    // An empty cell, maybe repeated: columns to skip.
                    let n = repeat(&e, "number-columns-repeated");
                    if row.len() < MAX_COLUMNS {
                        row.resize((row.len() + n).min(MAX_COLUMNS), String::new());
                    }
                }
                "s" if in_cell => cell.push(' '),
                "table-row" => {
                    // An empty row, maybe repeated: kept as one blank row at most.
                    if let Some(sheet) = sheets.last_mut() {
                        sheet.rows.push(Vec::new());
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_cell && skip == 0 => cell.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_cell && skip == 0 => cell.extend(xml_ref(&r)),
            Event::End(e) => {
                let name = e.local_name().into_inner();
                match name {
                    _ if skip > 0 => skip -= 1,
                    "table-cell" | "covered-table-cell" => {
                        in_cell = false;
                        // Repeats of a filled cell are written out (bounded); of an empty one
                        // they only move the column.
                        let n = if cell.trim().is_empty() {
                            cell_repeat
                        } else {
                            cell_repeat.min(MAX_REPEAT)
                        };
                        for _ in 0..n {
                            if row.len() >= MAX_COLUMNS {
                                break;
                            }
                            row.push(cell.clone());
                        }
                    }
                    "table-row" => {
                        while row.last().is_some_and(|c| c.trim().is_empty()) {
                            row.pop();
                        }
                        if let Some(sheet) = sheets.last_mut() {
                            let n = if row.is_empty() {
                                1
                            } else {
                                row_repeat.min(MAX_REPEAT)
                            };
                            for _ in 0..n {
                                if sheet.rows.len() > MAX_ROWS {
                                    break;
                                }
                                sheet.rows.push(row.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    for sheet in &mut sheets {
        while sheet.rows.last().is_some_and(|r| r.is_empty()) {
            sheet.rows.pop();
        }
    }
    Ok(sheets_text(sheets))
}

fn repeat(e: &BytesStart, local: &str) -> usize {
    attr(e, local)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_serial_days_become_dates() {
        assert_eq!(excel_date(45382.0, false).as_deref(), Some("2024-03-31"));
        assert_eq!(excel_date(1.0, false).as_deref(), Some("1900-01-01"));
        assert_eq!(excel_date(61.0, false).as_deref(), Some("1900-03-01"));
        assert_eq!(
            excel_date(45382.5, false).as_deref(),
            Some("2024-03-31 12:00")
        );
        assert_eq!(excel_date(0.0, true).as_deref(), Some("1904-01-01"));
        assert!(is_date_format("dd/mm/yyyy") && is_date_format("mmm\\-yy"));
        assert!(!is_date_format("#,##0.00") && !is_date_format("[Red]0.0\"d\""));
        assert_eq!(column_of("AB12"), Some(27));
        assert_eq!(excel_number("4.1100000000000003"), "4.11");
        assert_eq!(excel_number("0.30000000000000004"), "0.3");
        assert_eq!(excel_number("1204"), "1204");
        assert_eq!(excel_number("1.5E-3"), "0.0015");
        assert_eq!(column_of("A1"), Some(0));
    }

    #[test]
    fn xlsx_cells_fill_their_columns_with_strings_numbers_and_dates() {
        let xml = br#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="s"><v>1</v></c></row>
            <row r="2"><c r="A2" t="inlineStr"><is><t>March &amp; April</t></is></c><c r="B2" s="1"><v>45382</v></c><c r="C2"><v>1204.5</v></c></row>
            </sheetData></worksheet>"#;
        let rows = xlsx_rows(
            xml,
            &["Month".into(), "Total".into()],
            &[false, true],
            false,
        )
        .unwrap();
        assert_eq!(rows[0], ["Month", "", "Total"]);
        assert_eq!(rows[1], ["March & April", "2024-03-31", "1204.5"]);
    }

    #[test]
    fn ods_repeats_are_bounded_and_empty_tails_dropped() {
        let xml = br#"<office:document-content xmlns:office="o" xmlns:table="t" xmlns:text="x"><office:body><office:spreadsheet>
            <table:table table:name="Fuel">
              <table:table-row><table:table-cell><text:p>Month</text:p></table:table-cell><table:table-cell><text:p>Litres</text:p></table:table-cell></table:table-row>
              <table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="2"><text:p>x</text:p></table:table-cell></table:table-row>
              <table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
            </table:table></office:spreadsheet></office:body></office:document-content>"#;
        let mut zip = std::io::Cursor::new(Vec::new());
        {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(&mut zip);
            w.start_file("content.xml", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(xml).unwrap();
            w.finish().unwrap();
        }
        let text = ods_text(&zip.into_inner()).unwrap();
        assert_eq!(
            text,
            "# Sheet: Fuel\n\nRow 1 · Month: x · Litres: x\n\nRow 2 · Month: x · Litres: x\n\nRow 3 · Month: x · Litres: x\n\n\n"
        );
    }
}
